/*
 * Unit tests for the fast paths of rule evaluation (expr.c): regexes that
 * are alternations of literals, matched without PCRE2, must agree with PCRE2
 * on every value; the per-lead memo of set hashes and word starts must never
 * carry a verdict over to the next lead, nor past a string rewritten in
 * place (through the chain too, which keeps one memo across its rule
 * stages); rules evaluated with the memo agree with a plain evaluation over
 * many generated leads. The score stage's integer rounding of decayed
 * engagement points and of the total agrees with libm's lround.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "expr.h"
#include "lead.h"
#include "leadgen.h"
#include "pipeline.h"
#include "record.h"
#include "strset.h"

static lp_strset *g_tier1;
static lp_expr_pool *g_pool;

static const lp_strset *lookup_set(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    return len == 5 && memcmp(name, "tier1", 5) == 0 ? g_tier1 : NULL;
}

static const lp_expr_env g_env = {lookup_set, NULL};

static lp_expr *compile_env(const char *src, const lp_expr_env *env)
{
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    if (lp_expr_compile(src, strlen(src), env, &e, &err) != LP_OK)
        fail_msg("'%s' failed to compile: at %zu: %s", src, err.offset, err.msg);
    return e;
}

static lp_expr *compile_ok(const char *src)
{
    return compile_env(src, &g_env);
}

/* Compiled with the shared pool, as a pipeline compiles its rules (expr_pool.c). */
static lp_expr *compile_pooled(const char *src)
{
    lp_expr_env env = {lookup_set, NULL, g_pool};
    return compile_env(src, &env);
}

/* What PCRE2 itself says, with the options the compiler uses. */
static bool pcre2_says(const char *pat, bool caseless, const char *s, size_t n)
{
    int code;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (caseless ? PCRE2_CASELESS : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    assert_non_null(re);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

/* Regexes of the default pipeline, and edge shapes of the literal matcher. */
static const struct {
    const char *pat;
    bool caseless;
} patterns[] = {
    {"\\b(ceo|cto|cfo|coo|cmo|cro|chief|founder|co-founder|owner|president)\\b", true},
    {"\\b(vp|svp|evp|vice president)\\b", true},
    {"\\bhead of\\b", true},
    {"\\b(manager|lead)\\b", true},
    {"sales|revenue|business development", true},
    {"engineering|technical|it\\b|information technology", true},
    {"demo|trial|pricing", true},
    {"\\bstudent\\b", true},
    {"(lead|_x)", true},
    {"\\b(-ops|it)", true},
    {"\\bfoo|bar\\b", false},
    {"Sales|CEO", false},
    {"(a.b|c)", true}, /* not a literal alternation: PCRE2 only */
};

/* Pieces the generated values are made of: words, near misses, separators. */
static const char *const pieces[] = {
    "ceo", "CEO", "Chief", "co-founder", "Co-Founder", "vice president", "VP", "svp",
    "head of", "Head Of", "manager", "lead", "leader", "misleading", "sales", "Sales",
    "revenue", "it", "IT", "its", "demo", "pricing", "student", "students", "foo",
    "bar", "a.b", "axb", "-ops", "_x", "_", "-", " ", ", ", "/", "2", "\xc3\xa9", "\xff",
    "\xc5\xbf", "\xe2\x84\xaa", /* long s and Kelvin sign: /sales/i and /k/i match them in UTF */
    "ales", "ead", "\xc5\xbf" "ales", "vp\xc5\xbf", "c\xe2\x84\xaa",
};

/* A deterministic value of 0..5 pieces from a 64-bit state. */
static size_t make_value(uint64_t *st, char *buf, size_t cap)
{
    size_t n = 0, count = (*st >> 60) % 6;
    for (size_t k = 0; k < count; k++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        const char *p = pieces[(*st >> 33) % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t len = strlen(p);
        if (n + len >= cap)
            break;
        memcpy(buf + n, p, len);
        n += len;
    }
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return n;
}

/* Every pattern, on thousands of values, with and without the memo. */
static void literal_alternations_agree_with_pcre2(void **state)
{
    (void)state;
    lp_expr_scratch *memo = lp_expr_scratch_new(), *plain = lp_expr_scratch_new();
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        char src[256];
        snprintf(src, sizeof(src), "title ~ /%s/%s", patterns[p].pat,
                 patterns[p].caseless ? "i" : "");
        lp_expr *e = compile_ok(src);
        uint64_t st = 0x9e3779b97f4a7c15ull + p;
        for (int i = 0; i < 4000; i++) {
            char buf[128];
            size_t n = make_value(&st, buf, sizeof(buf));
            lp_lead l;
            lp_lead_clear(&l);
            lp_lead_set_str(&l, LP_F_TITLE, buf, n);
            bool want = pcre2_says(patterns[p].pat, patterns[p].caseless, buf, n);
            lp_expr_scratch_reset(memo);
            if (lp_expr_eval(e, &l, memo) != want || lp_expr_eval(e, &l, plain) != want)
                fail_msg("/%s/ on '%.*s': pcre2 says %d", patterns[p].pat, (int)n, buf, want);
        }
        lp_expr_free(e);
    }
    lp_expr_scratch_free(memo);
    lp_expr_scratch_free(plain);
}

static bool eval_title(const char *src, const char *title)
{
    lp_expr *e = compile_ok(src);
    lp_expr_scratch *sc = lp_expr_scratch_new();
    lp_lead l;
    lp_lead_clear(&l);
    lp_lead_set_str(&l, LP_F_TITLE, title, strlen(title));
    lp_expr_scratch_reset(sc);
    bool r = lp_expr_eval(e, &l, sc);
    lp_expr_scratch_free(sc);
    lp_expr_free(e);
    return r;
}

/* The default pipeline's seniority and department rules on real titles. */
static void default_rules_on_titles(void **state)
{
    (void)state;
    const char *vp = "title ~ /\\b(vp|svp|evp|vice president)\\b/i";
    const char *mgr = "title ~ /\\b(manager|lead)\\b/i";
    const char *eng = "title ~ /engineering|technical|it\\b|information technology/i";
    assert_true(eval_title(vp, "VP, Sales"));
    assert_true(eval_title(vp, "Senior Vice President of Operations"));
    assert_false(eval_title(vp, "VPN Administrator"));
    assert_true(eval_title(mgr, "Team Lead"));
    assert_false(eval_title(mgr, "Leadership Coach"));
    assert_false(eval_title(mgr, "Misleading"));
    assert_true(eval_title(eng, "Head of IT"));
    assert_true(eval_title(eng, "Director, IT Security"));
    assert_false(eval_title(eng, "Recruiter, Tech Talent"));
    assert_true(eval_title("title ~ /\\bstudent\\b/i", "Étudiant / Student"));
    assert_false(eval_title("title ~ /Sales|CEO/", "ceo"));
}

/* Same buffer, new content, reset: the memo must not answer for the old lead. */
static void memo_forgets_the_previous_lead(void **state)
{
    (void)state;
    lp_expr *e = compile_ok("country in $tier1 or title ~ /\\bceo\\b/i");
    lp_expr_scratch *sc = lp_expr_scratch_new();
    char country[3] = "US", title[4] = "CEO";
    lp_lead l;
    lp_lead_clear(&l);
    lp_lead_set_str(&l, LP_F_COUNTRY, country, 2);
    lp_lead_set_str(&l, LP_F_TITLE, title, 3);
    lp_expr_scratch_reset(sc);
    assert_true(lp_expr_eval(e, &l, sc));
    memcpy(country, "FR", 2);
    memcpy(title, "CTO", 3);
    lp_expr_scratch_reset(sc);
    assert_false(lp_expr_eval(e, &l, sc));
    memcpy(country, "gb", 2);
    lp_expr_scratch_reset(sc);
    assert_true(lp_expr_eval(e, &l, sc));
    lp_expr_scratch_free(sc);
    lp_expr_free(e);
}

/* lp_strset_has_hashed with lp_strset_hash gives lp_strset_has's answers. */
static void hashed_lookups_match_plain_ones(void **state)
{
    (void)state;
    char longv[300];
    memset(longv, 'A', sizeof(longv));
    lp_strset *s = lp_strset_new();
    lp_strset_add(s, "Computer Software", 17);
    lp_strset_add(s, longv, sizeof(longv));
    const char *q[] = {"computer software", "COMPUTER SOFTWARE", "Computer Softwar", "", "x"};
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        size_t n = strlen(q[i]);
        assert_int_equal(lp_strset_has_hashed(s, lp_strset_hash(q[i], n), q[i], n),
                         lp_strset_has(s, q[i], n));
    }
    assert_true(lp_strset_has_hashed(s, lp_strset_hash("computer SOFTWARE", 17), "computer SOFTWARE", 17));
    memset(longv, 'a', sizeof(longv));
    assert_true(lp_strset_has_hashed(s, lp_strset_hash(longv, sizeof(longv)), longv, sizeof(longv)));
    assert_false(lp_strset_has_hashed(s, lp_strset_hash(longv, 299), longv, 299));
    lp_strset_free(s);
}

/* A string rewritten in place after a reset is tested afresh once reset again. */
static void rewritten_string_after_reset_is_tested_afresh(void **state)
{
    (void)state;
    lp_expr *in = compile_ok("country in $tier1");
    lp_expr *re = compile_ok("title ~ /\\b(vp|chief)\\b/i");
    lp_expr_scratch *sc = lp_expr_scratch_new();
    char country[3] = "us", title[10] = "VP Sales";
    lp_lead l;
    lp_lead_clear(&l);
    lp_lead_set_str(&l, LP_F_COUNTRY, country, 2);
    lp_lead_set_str(&l, LP_F_TITLE, title, 8);
    lp_expr_scratch_reset(sc);
    assert_true(lp_expr_eval(in, &l, sc));
    assert_true(lp_expr_eval(re, &l, sc));
    memcpy(country, "fr", 2);     /* same address and length: the memo's key */
    memcpy(title, "Ex Sales", 8); /* word starts at the same bytes, other letters */
    lp_expr_scratch_reset(sc);
    assert_false(lp_expr_eval(in, &l, sc));
    assert_false(lp_expr_eval(re, &l, sc));
    lp_expr_scratch_free(sc);
    lp_expr_free(in);
    lp_expr_free(re);
}

static const char chain_yaml[] =
    "pipeline: {name: memo}\n"
    "validate: {required: [], email: ignore, phone: ignore, urls: ignore}\n"
    "dedupe: {enabled: false}\n"
    "score:\n"
    "  rules:\n"
    "    - {name: vp, when: 'title ~ /\\bvp\\b/i', points: 30}\n"
    "    - {name: na, when: 'country in [\"US\", \"CA\"]', points: 40}\n"
    "qualify:\n"
    "  sql_score: 60\n"
    "  mql_score: 30\n"
    "  disqualify:\n"
    "    - {name: rival, when: 'country in [\"RU\"]'}\n"
    "route:\n"
    "  rules:\n"
    "    - {name: na, when: 'country in [\"US\", \"CA\"] and title ~ /\\bvp\\b/i', queue: na}\n"
    "    - {name: eu, when: 'country in [\"FR\", \"RU\"]', queue: eu}\n"
    "  default: {queue: other}\n";

/* Runs one record whose country and title point at the caller's buffers. */
static void run_chain(const lp_pipeline *pl, lp_worker *w, lp_record *r, const char *country,
                      const char *title)
{
    lp_record_init(r);
    lp_lead_set_str(&r->lead, LP_F_COUNTRY, country, 2);
    lp_lead_set_str(&r->lead, LP_F_TITLE, title, strlen(title));
    lp_lead_set_str(&r->lead, LP_F_EMAIL, "a@b.example", 11);
    assert_int_equal(lp_pipeline_process(pl, w, r), LP_OK);
}

/*
 * Two leads whose strings sit at the same addresses with the same lengths
 * (as after an arena reset) through one worker: the chain's shared memo must
 * not answer the second lead from the first, in any rule stage.
 */
static void chain_memo_never_answers_a_rewritten_string(void **state)
{
    (void)state;
    char path[] = "/tmp/lp-test-memo-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(chain_yaml, f);
    fclose(f);
    lp_pipeline *pl = NULL;
    int nerr = 0;
    assert_int_equal(lp_pipeline_load(path, stderr, &pl, &nerr), LP_OK);
    remove(path);
    lp_worker *w = lp_worker_new(pl);
    char country[3] = "US", title[8] = "VP Ops";
    lp_record r;
    run_chain(pl, w, &r, country, title);
    assert_int_equal(r.qualification, LP_QUAL_SQL);
    assert_string_equal(r.owner, "na");
    memcpy(country, "RU", 2);
    memcpy(title, "Vx Ops", 6);
    run_chain(pl, w, &r, country, title);
    assert_int_equal(r.qualification, LP_QUAL_DISQUALIFIED);
    assert_string_equal(r.owner, "eu");
    memcpy(country, "CA", 2);
    memcpy(title, "vp ops", 6);
    run_chain(pl, w, &r, country, title);
    assert_int_equal(r.qualification, LP_QUAL_SQL);
    assert_string_equal(r.owner, "na");
    lp_worker_free(w);
    lp_pipeline_free(pl);
}

/* Every rule of the default pipeline, and a few shapes it does not use. */
static const char *const diff_rules[] = {
    "seniority in [\"c_suite\", \"owner\", \"founder\", \"partner\"] or title ~ /\\b(ceo|cto|cfo|coo|cmo|cro|chief|founder|co-founder|owner|president)\\b/i",
    "seniority == \"vp\" or title ~ /\\b(vp|svp|evp|vice president)\\b/i",
    "seniority == \"head\" or title ~ /\\bhead of\\b/i",
    "seniority == \"director\" or title ~ /\\bdirector\\b/i",
    "seniority == \"manager\" or title ~ /\\b(manager|lead)\\b/i",
    "seniority in [\"entry\", \"senior\"] and not (title ~ /\\b(manager|director|head|vp|chief)\\b/i)",
    "seniority == \"intern\" or title ~ /\\b(student|intern|trainee|apprentice)\\b/i",
    "department ~ /sales|revenue|business development/i or title ~ /\\b(sales|revenue|account executive|sdr|bdr)\\b/i",
    "department ~ /marketing/i or title ~ /\\b(marketing|growth|demand gen)\\b/i",
    "title ~ /\\b(revops|revenue operations|sales operations|marketing operations)\\b/i",
    "department ~ /engineering|technical|it\\b|information technology/i",
    "employee_count >= 1000", "employee_count between 201 and 999", "employee_count < 5",
    "annual_revenue >= 50000000",
    "industry in [\"Computer Software\", \"Internet\", \"Banking\"]",
    "country in $tier1 or country in [\"GB\", \"DE\", \"NL\", \"AU\"]", "not has(country)",
    "technologies in [\"salesforce\", \"hubspot\", \"pipedrive\"]",
    "technologies in [\"aws\", \"gcp\", \"azure\"]", "technologies contains \"force\"",
    "not (email_domain in [\"gmail.com\", \"yahoo.com\", \"hotmail.com\"])",
    "email_domain in [\"gmail.com\", \"yahoo.com\", \"hotmail.com\"]", "has(phone)",
    "not has(title)", "page_views >= 5", "email_clicks >= 1", "form_fills >= 1",
    "campaign ~ /demo|trial|pricing/i or utm_campaign ~ /demo|trial|pricing/i",
    "utm_medium in [\"cpc\", \"ppc\", \"paid_search\"]",
    "utm_source in [\"referral\", \"partner\", \"event\", \"webinar\"] or source ~ /referral|event|webinar|trade show/i",
    "opted_out == true", "title contains \"vice\"", "title ~ /^(Chief|VP)\\s/",
    "country != \"US\" and title != \"CEO\"", "company_name ~ /\\b(inc|gmbh|ltd)\\b/i",
    /* one-leaf shapes the evaluator answers without its program loop */
    "not (country in $tier1)", "not has(phone)", "not (employee_count >= 1000)",
    "not (title ~ /\\bvp\\b/i)", "employee_count != 500", "employee_count > 200",
    "employee_count <= 50", "not (technologies in [\"aws\", \"gcp\"])",
    "not (title contains \"vice\")", "not (seniority == \"vp\")", "opted_out != true",
    "title ~ /\\bvp\\b/i or true", "not (employee_count between 10 and 100)",
    /* several sets on one list field, hashed once per lead (appended: both_ways keeps its indices) */
    "technologies in [\"hubspot\", \"marketo\", \"pardot\"]",
    "technologies in [\"snowflake\", \"dbt\", \"looker\", \"aws\"]",
    "technologies in [\"HUBSPOT\u00e9\", \"\", \"salesforce \"]",
    "not (technologies in [\"salesforce\", \"gcp\"])",
    "technologies in $tier1",
};

/* Words of the extra alternations; the generated values are made of pieces[]. */
static const char *const alt_words[] = {"ceo", "vp", "sales", "manager", "lead", "director",
                                        "head of", "engineer", "senior", "it", "data",
                                        "student", "chief", "co-founder", "_x", "revenue"};

/*
 * Alternation k of the extra title and department rules: two words, with
 * bounds that vary (word-anchored, bounded on one side only, unbounded), so
 * that a field's table gets more than FALTS_MAX alternations and the last
 * ones match on their own.
 */
static void extra_rule(char *buf, size_t cap, size_t k)
{
    enum { NW = sizeof(alt_words) / sizeof(alt_words[0]) };
    const char *a = alt_words[k % NW], *b = alt_words[(k * 5 + 3) % NW];
    static const char *const shapes[] = {"title ~ /\\b(%s|%s)\\b/i", "title ~ /\\b(%s|%s)/i",
                                         "department ~ /%s|%s/i", "title ~ /(%s|%s)\\b/i",
                                         "department ~ /\\b(%s|%s)\\b/i"};
    snprintf(buf, cap, shapes[k % 5], a, b);
}

/* Items of the generated technology lists: members of the rules' sets in other cases too. */
static const char *const tech_words[] = {
    "salesforce", "HubSpot", "PIPEDRIVE", "aws", "GCP", "Azure", "marketo", "snowflake",
    "salesforce ", "hubspot\xc3\xa9", "\xff", "", "aws-cloud-services-platform-with-a-name-longer-"
    "than-sixty-four-bytes-in-all", "forcefield", "pardot", "dbt", "looker", "Gb"};

/*
 * Some leads get a technology list of 0, 1, 3, 40 or 300 items instead (the
 * last more than the scratch keeps hashes for): set members in any case,
 * near misses, empty, non-ASCII and long items.
 */
static void mutate_tech(lp_lead *l, uint64_t st, lp_str *items)
{
    static const uint32_t counts[] = {0, 1, 3, 40, 300};
    uint32_t count = counts[(st >> 40) % 5];
    for (uint32_t i = 0; i < count; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        const char *w = tech_words[(st >> 33) % (sizeof(tech_words) / sizeof(tech_words[0]))];
        items[i] = (lp_str){w, strlen(w)};
    }
    l->v[LP_F_TECHNOLOGIES].list = items;
    l->v[LP_F_TECHNOLOGIES].len = count;
    l->present |= 1ull << LP_F_TECHNOLOGIES;
}

/*
 * Some leads get a title or department made of pieces[] instead: non-ASCII
 * bytes, values longer than 64 bytes, words glued by '_' and '-'.
 */
static void mutate_lead(lp_lead *l, uint32_t k, char *title, char *dept, size_t cap)
{
    uint64_t st = 0x2545f4914f6cdd1dull * (k + 1);
    static lp_str items[300];
    if (k % 5 == 3)
        mutate_tech(l, st, items);
    if (k % 3 == 1) {
        size_t n = 0;
        for (int r = 0; r < 3; r++)
            n += make_value(&st, title + n, cap - n);
        lp_lead_set_str(l, LP_F_TITLE, title, n);
    }
    if (k % 4 == 2) {
        size_t n = make_value(&st, dept, cap);
        lp_lead_set_str(l, LP_F_DEPARTMENT, dept, n);
    }
}

/*
 * The same rule as a program of more than one leaf, by an "or" with a
 * leaf pair that is never true: evaluation then takes the general loop, with
 * no one-leaf fast path and no "not" folded into a leaf.
 */
static lp_expr *compile_as_program(const char *rule)
{
    char src[512];
    snprintf(src, sizeof src, "(%s) or (has(lead_id) and not has(lead_id))", rule);
    return compile_ok(src);
}

/*
 * The memo (one reset per lead, shared by every rule, as in the chain)
 * changes no verdict: every rule on many generated leads, in two passes as
 * two rule stages would, against a scratch that is never reset (no memo).
 */
static void memo_agrees_with_plain_evaluation_on_generated_leads(void **state)
{
    (void)state;
    enum { NDIFF = sizeof(diff_rules) / sizeof(diff_rules[0]), NEXTRA = 160,
           NRULES = NDIFF + NEXTRA, NLEADS = 20000 };
    static char extra[NEXTRA][128];
    const char *src[NRULES];
    lp_expr *rules[NRULES], *programs[NRULES];
    for (size_t i = 0; i < NRULES; i++) {
        if (i >= NDIFF)
            extra_rule(extra[i - NDIFF], sizeof extra[0], i - NDIFF);
        src[i] = i < NDIFF ? diff_rules[i] : extra[i - NDIFF];
        rules[i] = compile_pooled(src[i]);
        programs[i] = compile_as_program(src[i]);
    }
    lp_leadgen_opts o;
    lp_leadgen_opts_init(&o);
    o.seed = 7;
    lp_leadgen *g = lp_leadgen_new(&o);
    assert_non_null(g);
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_expr_scratch *memo = lp_expr_scratch_new(), *plain = lp_expr_scratch_new();
    size_t hits[NRULES] = {0};
    for (uint32_t k = 0; k < NLEADS; k++) {
        if (k % 256 == 0)
            lp_arena_reset(&a); /* the next leads reuse the same addresses */
        lp_lead l;
        lp_leadgen_next(g, &l, &a);
        lp_str email = lp_lead_str(&l, LP_F_EMAIL); /* email_domain, as validate derives it */
        const char *at = email.len ? memchr(email.ptr, '@', email.len) : NULL;
        if (at)
            lp_lead_set_str(&l, LP_F_EMAIL_DOMAIN, at + 1, email.len - (size_t)(at + 1 - email.ptr));
        char title[400], dept[200];
        mutate_lead(&l, k, title, dept, sizeof dept);
        lp_expr_scratch_reset(memo);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < NRULES; i++) {
                bool want = lp_expr_eval(programs[i], &l, plain);
                if (lp_expr_eval(rules[i], &l, plain) != want)
                    fail_msg("lead %u, rule '%s': fast path says %d", k, src[i], !want);
                if (lp_expr_eval(rules[i], &l, memo) != want)
                    fail_msg("lead %u, rule '%s': memo says %d", k, src[i], !want);
                hits[i] += want && pass == 0;
            }
    }
    for (size_t i = 0; i < NRULES; i++) {
        lp_expr_free(rules[i]);
        lp_expr_free(programs[i]);
    }
    lp_expr_scratch_free(memo);
    lp_expr_scratch_free(plain);
    lp_arena_free(&a);
    lp_leadgen_free(g);
    /* the generated leads exercise the title, set, list and one-leaf rules both ways */
    static const size_t both_ways[] = {0,  1,  2,  3,  4,  5,  7,  8,  9,  10, 15, 16,
                                       18, 21, 22, 29, 30, 37, 38, 39, 40, 42, 43, 44};
    for (size_t i = 0; i < sizeof(both_ways) / sizeof(both_ways[0]); i++)
        assert_true(hits[both_ways[i]] > 0 && hits[both_ways[i]] < NLEADS);
    for (size_t i = NDIFF - 5; i < NDIFF; i++) /* the list-set rules appended last */
        assert_true(hits[i] > 0 && hits[i] < NLEADS);
    size_t extra_both = 0; /* and most extra alternations, in the table and past it */
    for (size_t i = NDIFF; i < NRULES; i++)
        extra_both += hits[i] > 0 && hits[i] < NLEADS;
    assert_true(extra_both > NEXTRA * 3 / 4);
}

/*
 * Integer comparisons compile to range tests: each operator, on literals
 * at the ends of int64 and around zero, against C's own comparison, on
 * values at, next to and far from the literal; negated and on a missing
 * field too (false, and true under "not").
 */
static void integer_comparisons_agree_with_c(void **state)
{
    (void)state;
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    static const int64_t lits[] = {INT64_MIN, -1, 0, 5, INT64_MAX};
    lp_expr_scratch *sc = lp_expr_scratch_new();
    for (size_t o = 0; o < 6; o++)
        for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
            int64_t c = lits[k];
            char src[128], nsrc[160];
            snprintf(src, sizeof src, "employee_count %s %lld", ops[o], (long long)c);
            snprintf(nsrc, sizeof nsrc, "not (%s)", src);
            lp_expr *e = compile_ok(src), *ne = compile_ok(nsrc);
            int64_t vals[] = {INT64_MIN, INT64_MAX, 0, c, c == INT64_MIN ? c : c - 1,
                              c == INT64_MAX ? c : c + 1};
            for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
                int64_t x = vals[v];
                bool want = o == 0 ? x == c : o == 1 ? x != c : o == 2 ? x < c
                          : o == 3 ? x <= c : o == 4 ? x > c : x >= c;
                lp_lead l;
                lp_lead_clear(&l);
                lp_lead_set_long(&l, LP_F_EMPLOYEES, x);
                if (lp_expr_eval(e, &l, sc) != want || lp_expr_eval(ne, &l, sc) == want)
                    fail_msg("'%s' on %lld: C says %d", src, (long long)x, want);
            }
            lp_lead l;
            lp_lead_clear(&l);
            assert_false(lp_expr_eval(e, &l, sc));
            assert_true(lp_expr_eval(ne, &l, sc));
            lp_expr_free(e);
            lp_expr_free(ne);
        }
    /* comparisons nothing passes, at the ends of int64 */
    lp_expr *never = compile_ok("employee_count > 9223372036854775807");
    lp_expr *always = compile_ok("employee_count <= 9223372036854775807");
    lp_lead l;
    lp_lead_clear(&l);
    lp_lead_set_long(&l, LP_F_EMPLOYEES, INT64_MAX);
    assert_false(lp_expr_eval(never, &l, sc));
    assert_true(lp_expr_eval(always, &l, sc));
    lp_lead_set_long(&l, LP_F_EMPLOYEES, INT64_MIN);
    assert_false(lp_expr_eval(never, &l, sc));
    assert_true(lp_expr_eval(always, &l, sc));
    lp_expr_free(never);
    lp_expr_free(always);
    lp_expr_scratch_free(sc);
}

static const char decay_yaml[] =
    "pipeline: {name: decay}\n"
    "validate: {required: [], email: ignore, phone: ignore, urls: ignore}\n"
    "dedupe: {enabled: false}\n"
    "score:\n"
    "  fit_weight: 0.5\n"
    "  engagement_half_life: 30d\n"
    "  groups: {neg: {cap: 100, floor: -100}}\n"
    "  rules:\n"
    "    - {name: f, when: 'true', points: 33}\n"
    "    - {name: e7, when: 'true', points: 7, dimension: engagement}\n"
    "    - {name: e13, when: 'true', points: 13, dimension: engagement}\n"
    "    - {name: e1, when: 'true', points: 1, dimension: engagement}\n"
    "    - {name: en9, when: 'true', points: -9, dimension: engagement, group: neg}\n"
    "    - {name: e75, when: 'true', points: 75, dimension: engagement}\n";

static lp_pipeline *load_yaml(const char *yaml)
{
    char path[] = "/tmp/lp-test-yaml-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(yaml, f);
    fclose(f);
    lp_pipeline *pl = NULL;
    int nerr = 0;
    assert_int_equal(lp_pipeline_load(path, stderr, &pl, &nerr), LP_OK);
    remove(path);
    return pl;
}

/*
 * Engagement points decay as lround(points * exp2(-age / half-life)) and
 * the total is llround(fit_weight * fit + engagement_weight * engagement):
 * ages that land on halves (one half-life: 7 * 0.5), no age, a negative one,
 * and many random ones, each reason and the total against libm.
 */
static void score_decay_rounds_like_libm(void **state)
{
    (void)state;
    lp_pipeline *pl = load_yaml(decay_yaml);
    lp_worker *w = lp_worker_new(pl);
    const int64_t day = 86400000, hl = 30 * day, now = 1767225600000;
    static const int32_t pts[] = {33, 7, 13, 1, -9, 75};
    uint64_t st = 11;
    for (int k = 0; k < 3000; k++) {
        int64_t fixed[] = {-1, 0, -5 * day, 1, hl / 2, hl, 2 * hl, 3 * day, hl * 40};
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        int64_t age = k < 9 ? fixed[k] : (int64_t)((st >> 20) % (uint64_t)(400 * day));
        lp_record r;
        lp_record_init(&r);
        lp_lead_set_str(&r.lead, LP_F_EMAIL, "a@b.example", 11);
        lp_lead_set_long(&r.lead, LP_F_RECEIVED_AT, now);
        if (k != 0)
            lp_lead_set_long(&r.lead, LP_F_LAST_ACTIVITY, now - age);
        assert_int_equal(lp_pipeline_process(pl, w, &r), LP_OK);
        double decay = k == 0 || age <= 0 ? 1.0 : exp2(-(double)age / (double)hl);
        int64_t eng = 0;
        assert_int_equal(r.nreasons, 6);
        for (int i = 0; i < 6; i++) {
            int32_t want = i == 0 || decay == 1.0 ? pts[i] : (int32_t)lround(pts[i] * decay);
            if (r.reasons[i].points != want)
                fail_msg("age %lld, rule %d: %d points, libm says %d", (long long)age, i,
                         r.reasons[i].points, want);
            eng += i ? want : 0;
        }
        eng = eng < 0 ? 0 : eng > 100 ? 100 : eng;
        assert_int_equal(r.lead.v[LP_F_SCORE_ENGAGEMENT].i, eng);
        int64_t total = llround(0.5 * 33 + (double)eng);
        assert_int_equal(r.lead.v[LP_F_SCORE_TOTAL].i, total > 100 ? 100 : total);
        lp_arena_reset(lp_worker_arena(w));
    }
    lp_worker_free(w);
    lp_pipeline_free(pl);
}

static int setup(void **state)
{
    (void)state;
    g_tier1 = lp_strset_new();
    lp_strset_add(g_tier1, "US", 2);
    lp_strset_add(g_tier1, "GB", 2);
    g_pool = lp_expr_pool_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lp_strset_free(g_tier1);
    lp_expr_pool_free(g_pool);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_alternations_agree_with_pcre2),
        cmocka_unit_test(default_rules_on_titles),
        cmocka_unit_test(memo_forgets_the_previous_lead),
        cmocka_unit_test(hashed_lookups_match_plain_ones),
        cmocka_unit_test(rewritten_string_after_reset_is_tested_afresh),
        cmocka_unit_test(chain_memo_never_answers_a_rewritten_string),
        cmocka_unit_test(memo_agrees_with_plain_evaluation_on_generated_leads),
        cmocka_unit_test(integer_comparisons_agree_with_c),
        cmocka_unit_test(score_decay_rounds_like_libm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
