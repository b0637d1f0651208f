/*
 * Unit tests for the fast paths of rule evaluation (expr.c): regexes that
 * are alternations of literals, matched without PCRE2, must agree with PCRE2
 * on every value; the per-lead memo of set hashes and word starts must never
 * carry a verdict over to the next lead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "expr.h"
#include "lead.h"
#include "strset.h"

static lp_strset *g_tier1;

static const lp_strset *lookup_set(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    return len == 5 && memcmp(name, "tier1", 5) == 0 ? g_tier1 : NULL;
}

static const lp_expr_env g_env = {lookup_set, NULL};

static lp_expr *compile_ok(const char *src)
{
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    if (lp_expr_compile(src, strlen(src), &g_env, &e, &err) != LP_OK)
        fail_msg("'%s' failed to compile: at %zu: %s", src, err.offset, err.msg);
    return e;
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

static int setup(void **state)
{
    (void)state;
    g_tier1 = lp_strset_new();
    lp_strset_add(g_tier1, "US", 2);
    lp_strset_add(g_tier1, "GB", 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lp_strset_free(g_tier1);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_alternations_agree_with_pcre2),
        cmocka_unit_test(default_rules_on_titles),
        cmocka_unit_test(memo_forgets_the_previous_lead),
        cmocka_unit_test(hashed_lookups_match_plain_ones),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
