/* Unit tests for fieldmap.c: export header aliases and value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fieldmap.h"

#define S(lit) (lit), (sizeof(lit) - 1)

struct header_case {
    const char *header;
    int field;
};

/* Checks every header of a vendor export against the expected field. */
static void check_headers(const struct header_case *cases, size_t n)
{
    lp_fieldmap *m = lp_fieldmap_new();
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        int got = lp_fieldmap_lookup(m, cases[i].header, strlen(cases[i].header), NULL);
        if (got != cases[i].field)
            fail_msg("header \"%s\" maps to %d, expected %d", cases[i].header, got,
                     cases[i].field);
    }
    lp_fieldmap_free(m);
}

#define C LP_FIELDMAP_CUSTOM

static void apollo_headers_map(void **state)
{
    (void)state;
    static const struct header_case cases[] = {
        {"First Name", LP_F_FIRST_NAME}, {"Last Name", LP_F_LAST_NAME}, {"Title", LP_F_TITLE},
        {"Company", LP_F_COMPANY}, {"Company Name for Emails", LP_F_COMPANY},
        {"Email", LP_F_EMAIL}, {"Email Status", C}, {"Seniority", LP_F_SENIORITY},
        {"Departments", LP_F_DEPARTMENT}, {"Contact Owner", C}, {"First Phone", LP_F_PHONE},
        {"Work Direct Phone", LP_F_PHONE}, {"Home Phone", LP_F_PHONE},
        {"Mobile Phone", LP_F_PHONE}, {"Corporate Phone", LP_F_PHONE},
        {"Other Phone", LP_F_PHONE}, {"Stage", C}, {"Lists", C},
        {"Last Contacted", LP_F_LAST_ACTIVITY}, {"Account Owner", C},
        {"# Employees", LP_F_EMPLOYEES}, {"Industry", LP_F_INDUSTRY}, {"Keywords", C},
        {"Person Linkedin Url", LP_F_LINKEDIN_URL}, {"Website", LP_F_WEBSITE},
        {"Company Linkedin Url", C}, {"Facebook Url", C}, {"Twitter Url", C},
        {"City", LP_F_CITY}, {"State", LP_F_REGION}, {"Country", LP_F_COUNTRY},
        {"Company Address", C}, {"Company City", LP_F_CITY}, {"Company State", LP_F_REGION},
        {"Company Country", LP_F_COUNTRY}, {"Company Phone", LP_F_PHONE},
        {"Technologies", LP_F_TECHNOLOGIES}, {"Annual Revenue", LP_F_REVENUE},
        {"Total Funding", C}, {"Latest Funding", C}, {"Latest Funding Amount", C},
        {"Last Raised At", C}, {"Email Sent", C}, {"Email Open", LP_F_EMAIL_OPENS},
        {"Email Bounced", C}, {"Replied", C}, {"Demoed", C},
        {"Apollo Contact Id", LP_F_LEAD_ID}, {"Apollo Account Id", C},
    };
    check_headers(cases, sizeof(cases) / sizeof(cases[0]));
}

static void hubspot_headers_map(void **state)
{
    (void)state;
    static const struct header_case cases[] = {
        {"Record ID", LP_F_LEAD_ID}, {"First Name", LP_F_FIRST_NAME},
        {"Last Name", LP_F_LAST_NAME}, {"Email", LP_F_EMAIL}, {"Phone Number", LP_F_PHONE},
        {"Company Name", LP_F_COMPANY}, {"Job Title", LP_F_TITLE},
        {"Country/Region", LP_F_COUNTRY}, {"State/Region", LP_F_REGION}, {"City", LP_F_CITY},
        {"Lifecycle Stage", C}, {"Lead Status", C}, {"Contact owner", C},
        {"Create Date", LP_F_RECEIVED_AT}, {"Last Activity Date", LP_F_LAST_ACTIVITY},
        {"Number of Employees", LP_F_EMPLOYEES}, {"Annual Revenue", LP_F_REVENUE},
        {"Industry", LP_F_INDUSTRY}, {"Website URL", LP_F_WEBSITE},
    };
    check_headers(cases, sizeof(cases) / sizeof(cases[0]));
}

static void salesforce_headers_map(void **state)
{
    (void)state;
    static const struct header_case cases[] = {
        {"Lead ID", LP_F_LEAD_ID}, {"First Name", LP_F_FIRST_NAME},
        {"Last Name", LP_F_LAST_NAME}, {"Title", LP_F_TITLE},
        {"Company / Account", LP_F_COMPANY}, {"Email", LP_F_EMAIL}, {"Phone", LP_F_PHONE},
        {"Lead Source", LP_F_SOURCE}, {"Industry", LP_F_INDUSTRY},
        {"No. of Employees", LP_F_EMPLOYEES}, {"Annual Revenue", LP_F_REVENUE},
        {"Country", LP_F_COUNTRY}, {"State/Province", LP_F_REGION}, {"City", LP_F_CITY},
        {"Lead Status", C}, {"Rating", C}, {"Lead Owner", C}, {"Create Date", LP_F_RECEIVED_AT},
    };
    check_headers(cases, sizeof(cases) / sizeof(cases[0]));
}

static void canonical_names_and_spelling_variants_map(void **state)
{
    (void)state;
    lp_fieldmap *m = lp_fieldmap_new();
    for (int f = 0; f < LP_F_INPUT_COUNT; f++)
        assert_int_equal(lp_fieldmap_lookup(m, lp_fields[f].name, strlen(lp_fields[f].name), NULL),
                         f);
    assert_int_equal(lp_fieldmap_lookup(m, S("  EMAIL \t"), NULL), LP_F_EMAIL);
    assert_int_equal(lp_fieldmap_lookup(m, S("LeadId"), NULL), LP_F_LEAD_ID);
    assert_int_equal(lp_fieldmap_lookup(m, S("first-name"), NULL), LP_F_FIRST_NAME);
    assert_int_equal(lp_fieldmap_lookup(m, S("id"), NULL), LP_F_LEAD_ID);
    /* derived fields are not input columns */
    assert_int_equal(lp_fieldmap_lookup(m, S("score.total"), NULL), LP_FIELDMAP_CUSTOM);
    assert_int_equal(lp_fieldmap_lookup(m, S(""), NULL), LP_FIELDMAP_CUSTOM);
    lp_fieldmap_free(m);
}

static void priorities_follow_the_alias_order(void **state)
{
    (void)state;
    lp_fieldmap *m = lp_fieldmap_new();
    int32_t p1, p2, p3;
    lp_fieldmap_lookup(m, S("Company"), &p1);
    lp_fieldmap_lookup(m, S("Company Name for Emails"), &p2);
    assert_true(p1 < p2);
    lp_fieldmap_lookup(m, S("First Phone"), &p1);
    lp_fieldmap_lookup(m, S("Mobile Phone"), &p2);
    lp_fieldmap_lookup(m, S("Company Phone"), &p3);
    assert_true(p1 < p2 && p2 < p3);
    lp_fieldmap_lookup(m, S("Country"), &p1);
    lp_fieldmap_lookup(m, S("Company Country"), &p2);
    assert_true(p1 < p2);

    lp_fieldpick pick;
    lp_fieldpick_reset(&pick);
    lp_fieldpick_offer(&pick, LP_F_COMPANY, p2, 4);
    lp_fieldpick_offer(&pick, LP_F_COMPANY, p1, 3);
    lp_fieldpick_offer(&pick, LP_F_COMPANY, p1, 9); /* tie: first offered stays */
    lp_fieldpick_offer(&pick, LP_FIELDMAP_CUSTOM, 0, 1);
    assert_int_equal(pick.col[LP_F_COMPANY], 3);
    assert_int_equal(pick.col[LP_F_EMAIL], -1);
    lp_fieldmap_free(m);
}

static void user_entries_override_and_outrank(void **state)
{
    (void)state;
    lp_fieldmap *m = lp_fieldmap_new();
    int32_t pu, pb;
    assert_int_equal(lp_fieldmap_add(m, "Work Email Address", LP_F_EMAIL), LP_OK);
    assert_int_equal(lp_fieldmap_add(m, "Company Name for Emails", LP_FIELDMAP_CUSTOM), LP_OK);
    assert_int_equal(lp_fieldmap_add(m, "", LP_F_EMAIL), LP_E_CONFIG);
    assert_int_equal(lp_fieldmap_add(m, "x", LP_F_SCORE_TOTAL), LP_E_CONFIG);
    assert_int_equal(lp_fieldmap_add(m, "x", -2), LP_E_CONFIG);
    assert_int_equal(lp_fieldmap_lookup(m, S("work email address"), &pu), LP_F_EMAIL);
    assert_int_equal(lp_fieldmap_lookup(m, S("Email"), &pb), LP_F_EMAIL);
    assert_true(pu < pb);
    assert_int_equal(lp_fieldmap_lookup(m, S("Company Name for Emails"), NULL),
                     LP_FIELDMAP_CUSTOM);
    lp_fieldmap_free(m);
}

static void counts_parse_like_exports_write_them(void **state)
{
    (void)state;
    int64_t v = -1;
    bool present = true;
    assert_int_equal(lp_parse_count(S("1200"), &v, &present), LP_OK);
    assert_int_equal(v, 1200);
    assert_int_equal(lp_parse_count(S(" 1,200 "), &v, &present), LP_OK);
    assert_int_equal(v, 1200);
    assert_int_equal(lp_parse_count(S("51-200"), &v, &present), LP_OK);
    assert_int_equal(v, 51);
    assert_int_equal(lp_parse_count(S("51 - 200"), &v, &present), LP_OK);
    assert_int_equal(v, 51);
    assert_int_equal(lp_parse_count(S("1,001 to 5,000"), &v, &present), LP_OK);
    assert_int_equal(v, 1001);
    assert_int_equal(lp_parse_count(S("10,001+"), &v, &present), LP_OK);
    assert_int_equal(v, 10001);
    assert_int_equal(lp_parse_count(S("1200.0"), &v, &present), LP_OK);
    assert_int_equal(v, 1200);
    assert_true(present);
    assert_int_equal(lp_parse_count(S("   "), &v, &present), LP_OK);
    assert_false(present);
    assert_int_equal(lp_parse_count(S(""), &v, NULL), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("lots"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("12.5"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("-5"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("200-51"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("1,2"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("50 people"), &v, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_count(S("99999999999999999999"), &v, &present),
                     LP_E_NUMBER_INVALID);
}

static void money_parses_with_currency_and_scale(void **state)
{
    (void)state;
    double d = 0;
    bool present;
    assert_int_equal(lp_parse_money(S("12000000"), &d, &present), LP_OK);
    assert_true(d == 12000000.0);
    assert_int_equal(lp_parse_money(S("$4.5M"), &d, &present), LP_OK);
    assert_true(d == 4500000.0);
    assert_int_equal(lp_parse_money(S("4.5 million"), &d, &present), LP_OK);
    assert_true(d == 4500000.0);
    assert_int_equal(lp_parse_money(S("\xe2\x82\xac" "1.2B"), &d, &present), LP_OK);
    assert_true(d == 1200000000.0);
    assert_int_equal(lp_parse_money(S("500K"), &d, &present), LP_OK);
    assert_true(d == 500000.0);
    assert_int_equal(lp_parse_money(S("$1M-$10M"), &d, &present), LP_OK);
    assert_true(d == 1000000.0);
    assert_int_equal(lp_parse_money(S("$10B+"), &d, &present), LP_OK);
    assert_true(d == 10000000000.0);
    assert_int_equal(lp_parse_money(S("USD 3,250,000.50"), &d, &present), LP_OK);
    assert_true(d == 3250000.5);
    assert_int_equal(lp_parse_money(S("2.5mm"), &d, &present), LP_OK);
    assert_true(d == 2500000.0);
    assert_int_equal(lp_parse_money(S("\xc2\xa3" "750k GBP"), &d, &present), LP_OK);
    assert_true(d == 750000.0);
    assert_int_equal(lp_parse_money(S(""), &d, &present), LP_OK);
    assert_false(present);
    assert_int_equal(lp_parse_money(S("lots"), &d, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_money(S("4.5 millions"), &d, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_money(S("$1M-foo"), &d, &present), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_parse_money(S("$"), &d, &present), LP_E_NUMBER_INVALID);
}

static void booleans_accept_the_usual_words(void **state)
{
    (void)state;
    bool b, present;
    const char *yes[] = {"true", "TRUE", "Yes", "y", "1"};
    const char *no[] = {"false", "No", "N", "0"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(lp_parse_bool(yes[i], strlen(yes[i]), &b, &present), LP_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(lp_parse_bool(no[i], strlen(no[i]), &b, &present), LP_OK);
        assert_false(b);
    }
    assert_int_equal(lp_parse_bool(S("maybe"), &b, &present), LP_E_BOOL_INVALID);
    assert_int_equal(lp_parse_bool(S("2"), &b, &present), LP_E_BOOL_INVALID);
    assert_int_equal(lp_parse_bool(S(" "), &b, &present), LP_OK);
    assert_false(present);
}

/* 2024-01-15T10:30:00Z */
#define TS_0130 1705314600000LL

static void timestamps_parse_iso_and_epoch(void **state)
{
    (void)state;
    int64_t ms = 0;
    bool present;
    assert_int_equal(lp_parse_timestamp(S("2024-01-15T10:30:00Z"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15 10:30"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15T12:30:00+02:00"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15T05:30:00-0500"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15T10:30:00.250Z"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130 + 250);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15T10:30:00.123456Z"), &ms, &present),
                     LP_OK);
    assert_int_equal(ms, TS_0130 + 123);
    assert_int_equal(lp_parse_timestamp(S("2024-01-15"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130 - (10 * 3600 + 30 * 60) * 1000LL);
    assert_int_equal(lp_parse_timestamp(S("1705314600"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("1705314600000"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("1705314600000000"), &ms, &present), LP_OK);
    assert_int_equal(ms, TS_0130);
    assert_int_equal(lp_parse_timestamp(S("2024-02-29"), &ms, &present), LP_OK);
    assert_int_equal(lp_parse_timestamp(S("1969-12-31T23:59:59Z"), &ms, &present), LP_OK);
    assert_int_equal(ms, -1000);
    assert_int_equal(lp_parse_timestamp(S(""), &ms, &present), LP_OK);
    assert_false(present);
    const char *bad[] = {"15/01/2024", "2023-02-29", "2024-13-01", "2024-01-15T25:00",
                         "2024-01-15T10:30:00+2", "yesterday", "2024-01-15T10:30:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lp_parse_timestamp(bad[i], strlen(bad[i]), &ms, &present) != LP_E_TIMESTAMP_INVALID)
            fail_msg("\"%s\" parsed as a timestamp", bad[i]);
}

static void lists_split_trim_and_drop_empties(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    const lp_str *items;
    uint32_t n;
    assert_int_equal(lp_parse_list(&a, S(" Salesforce, HubSpot ;;Google Analytics ,"), &items, &n),
                     LP_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(items[0].ptr, "Salesforce", items[0].len);
    assert_int_equal(items[1].len, 7);
    assert_memory_equal(items[2].ptr, "Google Analytics", 16);
    assert_int_equal(lp_parse_list(&a, S(" , ; "), &items, &n), LP_OK);
    assert_int_equal(n, 0);
    assert_null(items);
    lp_arena_free(&a);
}

static void utf8_validation_is_strict(void **state)
{
    (void)state;
    assert_int_equal(lp_parse_utf8(S("Grüße 你好 привет مرحبا 😀")), LP_OK);
    assert_int_equal(lp_parse_utf8(S("\xff")), LP_E_ENCODING);
    assert_int_equal(lp_parse_utf8(S("\xc0\xaf")), LP_E_ENCODING);     /* overlong */
    assert_int_equal(lp_parse_utf8(S("\xed\xa0\x80")), LP_E_ENCODING); /* surrogate */
    assert_int_equal(lp_parse_utf8(S("\xe4\xbd")), LP_E_ENCODING);     /* truncated */
    assert_int_equal(lp_parse_utf8(S("\xf4\x90\x80\x80")), LP_E_ENCODING);
}

static void set_text_converts_by_field_type(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead l;
    lp_lead_clear(&l);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_PHONE, S(" '+49 30 1234567 ")), LP_OK);
    assert_int_equal(lp_lead_str(&l, LP_F_PHONE).len, 14);
    assert_memory_equal(lp_lead_str(&l, LP_F_PHONE).ptr, "+49 30 1234567", 14);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_EMAIL_OPENS, S("true")), LP_OK);
    assert_int_equal(l.v[LP_F_EMAIL_OPENS].i, 1);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_EMAIL_CLICKS, S("FALSE")), LP_OK);
    assert_int_equal(l.v[LP_F_EMAIL_CLICKS].i, 0);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_EMPLOYEES, S("true")),
                     LP_E_NUMBER_INVALID);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_OPTED_OUT, S("Yes")), LP_OK);
    assert_true(lp_lead_has(&l, LP_F_OPTED_OUT));
    assert_int_equal(l.v[LP_F_OPTED_OUT].i, 1);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_CONSENT, S("perhaps")), LP_E_BOOL_INVALID);
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_WEBSITE, S("  ")), LP_OK);
    assert_false(lp_lead_has(&l, LP_F_WEBSITE));
    assert_int_equal(lp_fieldmap_set_text(&l, &a, LP_F_WEBSITE, S("https://acme.io")), LP_OK);
    assert_false(lp_lead_has(&l, LP_F_DOMAIN)); /* website derives nothing */
    assert_int_equal(lp_fieldmap_set_long(&l, &a, LP_F_LEAD_ID, 12345), LP_OK);
    assert_memory_equal(lp_lead_str(&l, LP_F_LEAD_ID).ptr, "12345", 5);
    assert_int_equal(lp_fieldmap_set_double(&l, &a, LP_F_EMPLOYEES, 12.5), LP_E_NUMBER_INVALID);
    assert_int_equal(lp_fieldmap_set_long(&l, &a, LP_F_TECHNOLOGIES, 3), LP_E_FIELD_TYPE);
    assert_int_equal(lp_fieldmap_set_bool(&l, &a, LP_F_REVENUE, true), LP_E_FIELD_TYPE);
    assert_int_equal(lp_fieldmap_set_long(&l, &a, LP_F_RECEIVED_AT, 1705314600), LP_OK);
    assert_int_equal(l.v[LP_F_RECEIVED_AT].i, TS_0130);
    lp_arena_free(&a);
}

static void messages_name_the_column_and_value(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    assert_string_equal(
        lp_fieldmap_errmsg(&a, LP_E_NUMBER_INVALID, "column", S("# Employees"), S(" lots ")),
        "column \"# Employees\": \"lots\" is not a number");
    assert_string_equal(
        lp_fieldmap_errmsg(&a, LP_E_ENCODING, "column", S("Last Name"), S("Bytes\xff\xfe")),
        "column \"Last Name\": \"Bytes\\xff\\xfe\" is not valid UTF-8");
    assert_string_equal(
        lp_fieldmap_errmsg(&a, LP_E_TIMESTAMP_INVALID, "key", S("received_at"), S("a\"b")),
        "key \"received_at\": \"a\\\"b\" is not a timestamp");
    char big[300];
    memset(big, 'x', sizeof(big));
    const char *msg = lp_fieldmap_errmsg(&a, LP_E_BOOL_INVALID, "field", S("opted_out"), big,
                                         sizeof(big));
    assert_non_null(strstr(msg, "...\" is not a boolean"));
    assert_true(strlen(msg) < 120);
    lp_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apollo_headers_map),
        cmocka_unit_test(hubspot_headers_map),
        cmocka_unit_test(salesforce_headers_map),
        cmocka_unit_test(canonical_names_and_spelling_variants_map),
        cmocka_unit_test(priorities_follow_the_alias_order),
        cmocka_unit_test(user_entries_override_and_outrank),
        cmocka_unit_test(counts_parse_like_exports_write_them),
        cmocka_unit_test(money_parses_with_currency_and_scale),
        cmocka_unit_test(booleans_accept_the_usual_words),
        cmocka_unit_test(timestamps_parse_iso_and_epoch),
        cmocka_unit_test(lists_split_trim_and_drop_empties),
        cmocka_unit_test(utf8_validation_is_strict),
        cmocka_unit_test(set_text_converts_by_field_type),
        cmocka_unit_test(messages_name_the_column_and_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
