/*
 * Unit tests for expr.c: the rule language, from source text to a verdict on
 * a lead, and every class of compile error with its offset and message.
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

/* ---- fixtures ----------------------------------------------------------- */

typedef struct test_sets {
    lp_strset *free_mail;
    lp_strset *tier1;
} test_sets;

static test_sets g_sets;
static lp_expr_scratch *g_scratch;

static const lp_strset *lookup_set(void *ctx, const char *name, size_t len)
{
    test_sets *ts = ctx;
    if (len == 9 && memcmp(name, "free_mail", 9) == 0)
        return ts->free_mail;
    if (len == 5 && memcmp(name, "tier1", 5) == 0)
        return ts->tier1;
    return NULL;
}

static const lp_expr_env g_env = {lookup_set, &g_sets};

static int setup(void **state)
{
    (void)state;
    g_sets.free_mail = lp_strset_new();
    g_sets.tier1 = lp_strset_new();
    const char *fm[] = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com"};
    for (size_t i = 0; i < 4; i++)
        lp_strset_add(g_sets.free_mail, fm[i], strlen(fm[i]));
    lp_strset_add(g_sets.tier1, "US", 2);
    lp_strset_add(g_sets.tier1, "GB", 2);
    g_scratch = lp_expr_scratch_new();
    return g_scratch ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    lp_strset_free(g_sets.free_mail);
    lp_strset_free(g_sets.tier1);
    lp_expr_scratch_free(g_scratch);
    return 0;
}

static lp_expr *compile_ok(const char *src)
{
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    lp_err_t rc = lp_expr_compile(src, strlen(src), &g_env, &e, &err);
    if (rc != LP_OK)
        fail_msg("'%s' failed to compile: at %zu: %s", src, err.offset, err.msg);
    return e;
}

/* Compiles src, evaluates it on l, frees it. */
static bool eval(const char *src, const lp_lead *l)
{
    lp_expr *e = compile_ok(src);
    bool r = lp_expr_eval(e, l, g_scratch);
    lp_expr_free(e);
    return r;
}

static void str(lp_lead *l, lp_field_id f, const char *s)
{
    lp_lead_set_str(l, f, s, strlen(s));
}

/* A lead the way an Apollo export would produce it. */
static void sample_lead(lp_lead *l)
{
    static const lp_str techs[] = {LP_STR_LIT("Salesforce"), LP_STR_LIT("Google Analytics"),
                                   LP_STR_LIT("Marketo")};
    lp_lead_clear(l);
    str(l, LP_F_EMAIL, "jane.doe@Acme.io");
    str(l, LP_F_EMAIL_DOMAIN, "acme.io");
    str(l, LP_F_TITLE, "VP of Sales Operations");
    str(l, LP_F_COUNTRY, "US");
    str(l, LP_F_REGION, "NA");
    lp_lead_set_long(l, LP_F_EMPLOYEES, 250);
    lp_lead_set_double(l, LP_F_REVENUE, 12.5e6);
    lp_lead_set_long(l, LP_F_CONSENT, 1);
    lp_lead_set_long(l, LP_F_OPTED_OUT, 0);
    lp_lead_set_long(l, LP_F_RECEIVED_AT, 1718000000000); /* 2024-06-10T06:13:20Z */
    lp_lead_set_double(l, LP_F_DAYS_SINCE_ACTIVITY, 3.5);
    l->v[LP_F_TECHNOLOGIES].list = techs;
    l->v[LP_F_TECHNOLOGIES].len = 3;
    l->present |= 1ull << LP_F_TECHNOLOGIES;
}

/* ---- evaluation --------------------------------------------------------- */

static void string_equality_ignores_ascii_case(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("country == \"us\"", &l));
    assert_true(eval("country == \"US\"", &l));
    assert_false(eval("country == \"USA\"", &l));
    assert_false(eval("country != \"uS\"", &l));
    assert_true(eval("country != \"CA\"", &l));
    assert_true(eval("title == \"vp OF SALES operations\"", &l)); /* longer than 16 bytes */
    assert_false(eval("title == \"vp of sales operation\"", &l));
    str(&l, LP_F_CITY, "");
    assert_true(eval("city == \"\"", &l));
    str(&l, LP_F_TITLE, "Say \"hi\" \\ there");
    assert_true(eval("title == \"say \\\"HI\\\" \\\\ there\"", &l));
}

static void numbers_compare_with_every_operator(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("employee_count == 250", &l));
    assert_false(eval("employee_count != 250", &l));
    assert_true(eval("employee_count != 251", &l));
    assert_true(eval("employee_count < 251", &l));
    assert_false(eval("employee_count < 250", &l));
    assert_true(eval("employee_count <= 250", &l));
    assert_false(eval("employee_count <= 249", &l));
    assert_true(eval("employee_count > 249", &l));
    assert_false(eval("employee_count > 250", &l));
    assert_true(eval("employee_count >= 250", &l));
    assert_false(eval("employee_count >= 251", &l));
    /* a decimal literal against an integer field */
    assert_true(eval("employee_count > 249.5", &l));
    assert_false(eval("employee_count == 250.5", &l));
    /* double fields, with integer and decimal literals */
    assert_true(eval("annual_revenue >= 12500000", &l));
    assert_false(eval("annual_revenue > 12500000", &l));
    assert_true(eval("days_since_activity < 3.75", &l));
    assert_true(eval("days_since_activity > -1", &l));
    lp_lead_set_long(&l, LP_F_SCORE_TOTAL, -5);
    assert_true(eval("score.total < 0 and score.total >= -5", &l));
}

static void and_binds_tighter_than_or(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    /* a=true, b=false, c=false: a or (b and c) is true, (a or b) and c is false */
    assert_true(eval("country == \"US\" or region == \"EMEA\" and employee_count > 1000", &l));
    /* a=false, b=true, c=false */
    assert_false(eval("country == \"CA\" or region == \"NA\" and employee_count > 1000", &l));
    assert_false(eval("(country == \"US\" or region == \"EMEA\") and employee_count > 1000", &l));
    assert_true(eval("country == \"CA\" or country == \"DE\" or country == \"US\"", &l));
    assert_false(eval("country == \"US\" and region == \"NA\" and employee_count > 1000", &l));
}

static void not_and_parentheses(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_false(eval("not country == \"US\"", &l));
    /* not binds tighter than and */
    assert_true(eval("not country == \"CA\" and region == \"NA\"", &l));
    assert_true(eval("not (country == \"US\" and region == \"EMEA\")", &l));
    assert_false(eval("not not (country == \"CA\")", &l));
    assert_true(eval("((((employee_count > 1))))", &l));
    assert_true(eval("true", &l));
    assert_false(eval("false", &l));
    assert_true(eval("false or not false", &l));
}

static void missing_fields_make_comparisons_false(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_false(eval("has(phone)", &l));
    assert_true(eval("not has(phone)", &l));
    assert_true(eval("has(email)", &l));
    lp_lead_unset(&l, LP_F_OPTED_OUT);
    const char *on_missing[] = {
        "phone == \"1\"",
        "phone != \"1\"",
        "phone in [\"1\", \"2\"]",
        "phone not in [\"1\", \"2\"]",
        "phone contains \"\"",
        "phone ~ /.*/",
        "page_views == 0",
        "page_views != 0",
        "page_views between 0 and 9",
        "page_views not in [1, 2]",
        "opted_out != true",
        "score.fit < 100",
        "industry in $tier1",
        "industry not in $tier1",
    };
    for (size_t i = 0; i < sizeof on_missing / sizeof *on_missing; i++)
        if (eval(on_missing[i], &l))
            fail_msg("'%s' is true on a missing field", on_missing[i]);
    /* only "not" turns a missing comparison true */
    assert_true(eval("not (page_views == 1)", &l));
    lp_lead_unset(&l, LP_F_COUNTRY);
    assert_false(eval("country == \"US\"", &l));
}

static void literal_lists_and_not_in(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("country in [\"ca\", \"us\", \"mx\"]", &l));
    assert_false(eval("country in [\"CA\", \"MX\"]", &l));
    assert_true(eval("country not in [\"CA\", \"MX\"]", &l));
    assert_false(eval("country not in [\"CA\", \"Us\"]", &l));
    assert_true(eval("country in [\"US\"]", &l));
    assert_false(eval("country not in [\"us\"]", &l));
    assert_true(eval("employee_count in [10, 250, 1000]", &l));
    assert_false(eval("employee_count in [10, 1000]", &l));
    assert_true(eval("employee_count not in [10, 1000]", &l));
    assert_false(eval("employee_count not in [10, 250]", &l));
}

static void named_sets_come_from_the_environment(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("country in $tier1", &l));
    assert_false(eval("email_domain in $free_mail", &l));
    str(&l, LP_F_EMAIL_DOMAIN, "GMail.Com");
    assert_true(eval("email_domain in $free_mail", &l));
    assert_false(eval("email_domain not in $free_mail", &l));
    str(&l, LP_F_EMAIL_DOMAIN, "a-very-long-corporate-domain-name-longer-than-any-member.com");
    assert_true(eval("email_domain not in $free_mail", &l));
}

static void list_fields_match_any_item(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("technologies in [\"hubspot\", \"salesforce\"]", &l));
    assert_false(eval("technologies in [\"hubspot\", \"pardot\"]", &l));
    assert_true(eval("technologies not in [\"hubspot\", \"pardot\"]", &l));
    assert_true(eval("technologies == \"MARKETO\"", &l));
    assert_false(eval("technologies != \"marketo\"", &l)); /* != holds when no item equals */
    assert_true(eval("technologies != \"hubspot\"", &l));
    assert_true(eval("technologies contains \"analytics\"", &l));
    assert_false(eval("technologies contains \"segment\"", &l));
    assert_true(eval("technologies ~ /^Google/", &l));
    assert_false(eval("technologies ~ /^google/", &l));
    assert_true(eval("technologies ~ /^google/i", &l));
    l.v[LP_F_TECHNOLOGIES].len = 0; /* present but empty */
    assert_false(eval("technologies in [\"salesforce\", \"marketo\"]", &l));
    assert_true(eval("has(technologies)", &l));
}

static void contains_ignores_case_anywhere(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("title contains \"SALES\"", &l));
    assert_true(eval("title contains \"vp\"", &l));         /* prefix */
    assert_true(eval("title contains \"operations\"", &l)); /* suffix */
    assert_true(eval("title contains \"\"", &l));
    assert_false(eval("title contains \"director\"", &l));
    assert_false(eval("title contains \"VP of Sales Operations!\"", &l)); /* longer */
    str(&l, LP_F_TITLE, "aaab");
    assert_true(eval("title contains \"aab\"", &l)); /* needs a short shift */
    assert_true(eval("title contains \"AAAB\"", &l));
    assert_false(eval("title contains \"aaaa\"", &l));
}

static void regexes_use_pcre2_with_jit(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    print_message("PCRE2 JIT %s\n", jit ? "available" : "not available");
    assert_true(eval("title ~ /\\b(vp|vice president|chief|head of)\\b/i", &l));
    assert_false(eval("title ~ /\\b(vp|vice president|chief|head of)\\b/", &l));
    assert_true(eval("title ~ /Sales/", &l));
    assert_false(eval("title ~ /sales/", &l));
    assert_true(eval("email ~ /@acme\\.io$/i", &l));
    str(&l, LP_F_WEBSITE, "https://acme.io/about");
    assert_true(eval("website ~ /^https:\\/\\/acme/", &l)); /* escaped slash */
    str(&l, LP_F_CITY, "M\xc3\xbcnchen");
    assert_true(eval("city ~ /^M.nchen$/", &l)); /* '.' is one UTF-8 character */
    str(&l, LP_F_CITY, "M\xfcnchen");            /* Latin-1, not UTF-8 */
    assert_false(eval("city ~ /^M.nchen$/", &l));
    assert_true(eval("city ~ /nchen$/", &l));
    /* one scratch serves many regexes in one expression */
    assert_true(eval("title ~ /vp/i and email ~ /jane/ and not technologies ~ /hubspot/i", &l));
}

static void between_is_inclusive(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("employee_count between 250 and 500", &l));
    assert_true(eval("employee_count between 51 and 250", &l));
    assert_true(eval("employee_count between 250 and 250", &l));
    assert_false(eval("employee_count between 251 and 500", &l));
    assert_false(eval("employee_count between 1 and 249", &l));
    assert_true(eval("employee_count between 249.5 and 250.5", &l));
    assert_true(eval("days_since_activity between 3.5 and 7", &l));
    assert_false(eval("days_since_activity between 0 and 3.49", &l));
    /* "and" after between belongs to it; the next "and" is the operator */
    assert_true(eval("employee_count between 1 and 500 and country == \"US\"", &l));
}

static void booleans_compare_with_true_and_false(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("consent_marketing == true", &l));
    assert_false(eval("consent_marketing == false", &l));
    assert_true(eval("consent_marketing != false", &l));
    assert_true(eval("opted_out == false", &l));
    assert_true(eval("consent_marketing and not opted_out", &l));
    lp_lead_set_long(&l, LP_F_OPTED_OUT, 1);
    assert_true(eval("opted_out", &l));
    assert_false(eval("consent_marketing and not opted_out", &l));
}

static void timestamps_compare_in_milliseconds(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    assert_true(eval("received_at == 1718000000000", &l));
    assert_true(eval("received_at > 1717999999999", &l));
    assert_true(eval("received_at >= \"2024-06-10\"", &l));
    assert_false(eval("received_at >= \"2024-06-11\"", &l));
    assert_true(eval("received_at == \"2024-06-10T06:13:20Z\"", &l));
    assert_true(eval("received_at < \"2024-06-10T06:13:20.001Z\"", &l));
    assert_true(eval("received_at between \"2024-01-01\" and \"2024-12-31T23:59:59Z\"", &l));
    assert_false(eval("received_at between \"2023-01-01\" and 1717999999999", &l));
    lp_lead_set_long(&l, LP_F_LAST_ACTIVITY, 0);
    assert_true(eval("last_activity_at == \"1970-01-01T00:00:00Z\"", &l));
    lp_lead_set_long(&l, LP_F_LAST_ACTIVITY, -86400000);
    assert_true(eval("last_activity_at == \"1969-12-31\"", &l));
}

static void fields_mask_lists_every_slot_read(void **state)
{
    (void)state;
    lp_expr *e = compile_ok("title ~ /vp/i and (country in $tier1 or not has(phone)) and "
                            "employee_count between 1 and 10 or opted_out");
    uint64_t want = (1ull << LP_F_TITLE) | (1ull << LP_F_COUNTRY) | (1ull << LP_F_PHONE) |
                    (1ull << LP_F_EMPLOYEES) | (1ull << LP_F_OPTED_OUT);
    assert_int_equal(lp_expr_fields(e), want);
    lp_expr_free(e);
    e = compile_ok("true");
    assert_int_equal(lp_expr_fields(e), 0);
    lp_expr_free(e);
}

static void source_need_not_be_nul_terminated(void **state)
{
    (void)state;
    lp_lead l;
    sample_lead(&l);
    const char buf[] = "country == \"US\" GARBAGE(";
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    assert_int_equal(lp_expr_compile(buf, 15, NULL, &e, &err), LP_OK);
    assert_true(lp_expr_eval(e, &l, NULL)); /* no regex: no scratch needed */
    lp_expr_free(e);
}

/* ---- compile errors ----------------------------------------------------- */

typedef struct bad_case {
    const char *src;
    size_t offset;
    const char *msg;
} bad_case;

static const bad_case bad_cases[] = {
    {"titel == \"CEO\"", 0, "unknown field 'titel'; did you mean 'title'?"},
    {"country == \"US\" and contry == \"CA\"", 20,
     "unknown field 'contry'; did you mean 'country'?"},
    {"favourite_color == \"red\"", 0, "unknown field 'favourite_color'"},
    {"has(titel)", 4, "unknown field 'titel'; did you mean 'title'?"},
    {"country == 5", 11, "cannot compare string field 'country' with a number"},
    {"country == true", 11, "cannot compare string field 'country' with a boolean"},
    {"employee_count >= \"200\"", 18,
     "cannot compare integer field 'employee_count' with a string"},
    {"consent_marketing == 1", 21,
     "cannot compare boolean field 'consent_marketing' with a number; use true or false"},
    {"employee_count in $tier1", 18,
     "cannot compare integer field 'employee_count' with a set of strings"},
    {"country in [\"US\", 1]", 18, "cannot compare string field 'country' with a number"},
    {"country < \"US\"", 8, "operator '<' does not apply to string field 'country'"},
    {"technologies >= \"x\"", 13, "operator '>=' does not apply to list field 'technologies'"},
    {"employee_count ~ /1/", 15, "operator '~' does not apply to integer field 'employee_count'"},
    {"employee_count contains \"1\"", 15,
     "operator 'contains' does not apply to integer field 'employee_count'"},
    {"country between 1 and 2", 8, "operator 'between' does not apply to string field 'country'"},
    {"opted_out not in [1]", 14, "operator 'in' does not apply to boolean field 'opted_out'"},
    {"has(title and phone)", 10, "expected ')' but found 'and'"},
    {"(country == \"US\"", 16, "expected ')' but found end of expression"},
    {"country == \"US\" region == \"NA\"", 16,
     "expected 'and', 'or' or the end of the expression but found 'region'"},
    {"country == \"US\" and", 19, "expected a condition but found end of expression"},
    {"", 0, "expected a condition but found end of expression"},
    {"and country == \"US\"", 0, "expected a condition but found 'and'"},
    {"country", 7, "expected an operator after 'country' but found end of expression"},
    {"country not \"US\"", 12, "expected 'in' after 'not' but found '\"US\"'"},
    {"country in \"US\"", 11, "expected '[' or a $set after 'in' but found '\"US\"'"},
    {"country in [\"US\" \"CA\"]", 17, "expected ',' or ']' but found '\"CA\"'"},
    {"country in []", 12, "expected a string but found ']'"},
    {"employee_count between 1 or 5", 25, "expected 'and' in 'between' but found 'or'"},
    {"employee_count between 500 and 51", 23,
     "empty range: the lower bound is greater than the upper bound"},
    {"title == \"VP", 9, "unterminated string"},
    {"title == \"a\\qb\"", 11, "unknown escape '\\q' in string"},
    {"country = \"US\"", 8, "unexpected '='; use '==' to compare"},
    {"country == \"US\" # note", 16, "unexpected character '#'"},
    {"employee_count > 20k", 17, "invalid number '20k'"},
    {"received_at > \"yesterday\"", 14,
     "invalid timestamp \"yesterday\"; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"},
    {"country in $nope", 11, "unknown set $nope"},
    {"title ~ \"vp\"", 8, "expected a regex /.../ after '~' but found '\"vp\"'"},
    {"title ~ /vp", 8, "unterminated regex"},
    {"title ~ /vp/g", 12, "unknown regex flag 'g'; only 'i' is supported"},
    {"title ~ /(vp/", 8, "regex: missing closing parenthesis at offset 3"},
    {"title ~ /vp|(ch[ief/i", 8, "regex: missing terminating ] for character class at offset 10"},
};

static void compile_errors_name_the_problem_and_its_offset(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        lp_expr *sentinel = (lp_expr *)&g_sets, *e = sentinel;
        lp_expr_error err = {0};
        lp_err_t rc = lp_expr_compile(c->src, strlen(c->src), &g_env, &e, &err);
        if (rc != LP_E_CONFIG)
            fail_msg("'%s': expected LP_E_CONFIG, got %d", c->src, rc);
        if (strcmp(err.msg, c->msg) != 0 || err.offset != c->offset)
            fail_msg("'%s':\n  want %zu: %s\n  got  %zu: %s", c->src, c->offset, c->msg, err.offset,
                     err.msg);
        assert_ptr_equal(e, sentinel);
    }
}

static void unknown_set_without_environment(void **state)
{
    (void)state;
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    const char *src = "email_domain in $free_mail";
    assert_int_equal(lp_expr_compile(src, strlen(src), NULL, &e, &err), LP_E_CONFIG);
    assert_string_equal(err.msg, "unknown set $free_mail");
    assert_int_equal(err.offset, 16);
    assert_null(e);
}

static void deep_nesting_is_an_error_not_a_crash(void **state)
{
    (void)state;
    char src[512];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        src[n++] = '(';
    memcpy(src + n, "true", 4);
    n += 4;
    lp_expr *e = NULL;
    lp_expr_error err = {0};
    assert_int_equal(lp_expr_compile(src, n, NULL, &e, &err), LP_E_CONFIG);
    assert_string_equal(err.msg, "expression nested too deeply");
    assert_int_equal(err.offset, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_equality_ignores_ascii_case),
        cmocka_unit_test(numbers_compare_with_every_operator),
        cmocka_unit_test(and_binds_tighter_than_or),
        cmocka_unit_test(not_and_parentheses),
        cmocka_unit_test(missing_fields_make_comparisons_false),
        cmocka_unit_test(literal_lists_and_not_in),
        cmocka_unit_test(named_sets_come_from_the_environment),
        cmocka_unit_test(list_fields_match_any_item),
        cmocka_unit_test(contains_ignores_case_anywhere),
        cmocka_unit_test(regexes_use_pcre2_with_jit),
        cmocka_unit_test(between_is_inclusive),
        cmocka_unit_test(booleans_compare_with_true_and_false),
        cmocka_unit_test(timestamps_compare_in_milliseconds),
        cmocka_unit_test(fields_mask_lists_every_slot_read),
        cmocka_unit_test(source_need_not_be_nul_terminated),
        cmocka_unit_test(compile_errors_name_the_problem_and_its_offset),
        cmocka_unit_test(unknown_set_without_environment),
        cmocka_unit_test(deep_nesting_is_an_error_not_a_crash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
