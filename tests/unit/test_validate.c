/* Unit tests for validate.c: the validate stage on whole leads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "validate.h"

typedef struct fixture {
    lp_arena arena;
    lp_validate_conf conf;
    lp_lead lead;
    const char *msg;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    lp_arena_init(&f.arena, 0);
    lp_validate_conf_default(&f.conf);
    lp_lead_clear(&f.lead);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lp_arena_free(&f->arena);
    return 0;
}

static void set(fixture *f, lp_field_id id, const char *s)
{
    lp_lead_set_str(&f->lead, id, s, strlen(s));
}

static lp_err_t run(fixture *f)
{
    return lp_validate_lead(&f->conf, &f->lead, &f->arena, &f->msg);
}

/* Asserts field id holds exactly want. */
static void assert_field(const fixture *f, lp_field_id id, const char *want)
{
    assert_true(lp_lead_has(&f->lead, id));
    lp_str s = lp_lead_str(&f->lead, id);
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0) {
        print_error("%s: got \"%.*s\", want \"%s\"\n", lp_fields[id].name, (int)s.len, s.ptr, want);
        fail();
    }
}

static void defaults_are_documented_ones(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->conf.required, 1ull << LP_F_EMAIL);
    assert_int_equal(f->conf.email, LP_CHECK_REJECT);
    assert_int_equal(f->conf.phone, LP_CHECK_REJECT);
    assert_int_equal(f->conf.urls, LP_CHECK_REJECT);
    assert_false(f->conf.reject_opted_out);
    assert_true(f->conf.derive_company_domain);
}

static void clean_lead_is_normalised(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "  Jane.Doe@Acme.COM\xC2\xA0");
    set(f, LP_F_FIRST_NAME, "\xC2\xA0Jane ");
    set(f, LP_F_LAST_NAME, " M\xC3\xBCller\xE3\x80\x80");
    set(f, LP_F_PHONE, "'+49 30 1234567");
    set(f, LP_F_COUNTRY, "Deutschland");
    set(f, LP_F_WEBSITE, " https://www.Acme.com/de ");
    assert_int_equal(run(f), LP_OK);
    assert_null(f->msg);
    assert_field(f, LP_F_EMAIL, "jane.doe@acme.com");
    assert_field(f, LP_F_EMAIL_DOMAIN, "acme.com");
    assert_field(f, LP_F_FIRST_NAME, "Jane");
    assert_field(f, LP_F_LAST_NAME, "M\xC3\xBCller");
    assert_field(f, LP_F_PHONE, "+49 30 1234567");
    assert_field(f, LP_F_COUNTRY, "DE");
    assert_field(f, LP_F_WEBSITE, "https://www.Acme.com/de");
    assert_field(f, LP_F_DOMAIN, "acme.com");
}

static void emptied_fields_become_absent(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "a@acme.com");
    set(f, LP_F_TITLE, " \xC2\xA0 ");
    set(f, LP_F_PHONE, "   ");
    assert_int_equal(run(f), LP_OK);
    assert_false(lp_lead_has(&f->lead, LP_F_TITLE));
    assert_false(lp_lead_has(&f->lead, LP_F_PHONE));
}

/*
 * Trimming rewrites a field only when it changes: a clean value keeps its
 * very bytes (zero-copy), a value with white space at either end, ASCII or
 * Unicode, loses it, and a value that was empty all along becomes absent.
 */
static void trimming_touches_only_what_changes(void **state)
{
    fixture *f = *state;
    static const char title[] = "VP Sales", city[] = " Berlin", region[] = "Bavaria\t",
                      company[] = "\xC2\xA0"
                                  "Acme GmbH\xE2\x80\x8B",
                      last[] = "M\xC3\xBCller", first[] = "J", dept[] = "Jean  Luc";
    set(f, LP_F_EMAIL, "jane@acme.com");
    set(f, LP_F_TITLE, title);
    set(f, LP_F_CITY, city);
    set(f, LP_F_REGION, region);
    set(f, LP_F_COMPANY, company);
    set(f, LP_F_LAST_NAME, last);
    set(f, LP_F_FIRST_NAME, first);
    set(f, LP_F_DEPARTMENT, dept);
    set(f, LP_F_SOURCE, "");
    assert_int_equal(run(f), LP_OK);
    assert_ptr_equal(lp_lead_str(&f->lead, LP_F_TITLE).ptr, title);
    assert_ptr_equal(lp_lead_str(&f->lead, LP_F_LAST_NAME).ptr, last);
    assert_ptr_equal(lp_lead_str(&f->lead, LP_F_FIRST_NAME).ptr, first);
    assert_field(f, LP_F_DEPARTMENT, "Jean  Luc");
    assert_field(f, LP_F_CITY, "Berlin");
    assert_ptr_equal(lp_lead_str(&f->lead, LP_F_CITY).ptr, city + 1);
    assert_field(f, LP_F_REGION, "Bavaria");
    assert_field(f, LP_F_COMPANY, "Acme GmbH");
    assert_false(lp_lead_has(&f->lead, LP_F_SOURCE));
}

static void invalid_email_is_rejected_with_its_value(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "bob@@example");
    assert_int_equal(run(f), LP_E_EMAIL_INVALID);
    assert_string_equal(f->msg, "email \"bob@@example\" is not a valid address");
}

static void idn_email_domain_is_punycode(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "Hans@M\xC3\xBCnchen.de");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_EMAIL, "hans@xn--mnchen-3ya.de");
    assert_field(f, LP_F_EMAIL_DOMAIN, "xn--mnchen-3ya.de");
    assert_field(f, LP_F_DOMAIN, "xn--mnchen-3ya.de");
}

static void ignored_email_check_keeps_the_value(void **state)
{
    fixture *f = *state;
    f->conf.email = LP_CHECK_IGNORE;
    set(f, LP_F_EMAIL, " not-an-email ");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_EMAIL, "not-an-email");
    assert_false(lp_lead_has(&f->lead, LP_F_EMAIL_DOMAIN));
    assert_false(lp_lead_has(&f->lead, LP_F_DOMAIN));
}

static void message_escapes_and_cuts_the_value(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "say \"hi\"\n@x");
    assert_int_equal(run(f), LP_E_EMAIL_INVALID);
    assert_string_equal(f->msg, "email \"say \\\"hi\\\"\\x0a@x\" is not a valid address");

    char long_value[400];
    memset(long_value, 'z', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    lp_lead_clear(&f->lead);
    set(f, LP_F_EMAIL, long_value);
    assert_int_equal(run(f), LP_E_EMAIL_INVALID);
    assert_int_equal(strlen(f->msg), strlen("email \"\" is not a valid address") + 120 + 3);
    assert_non_null(strstr(f->msg, "zzz...\" is not"));
}

static void phone_checks(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "a@acme.com");
    set(f, LP_F_PHONE, "12345");
    assert_int_equal(run(f), LP_E_PHONE_INVALID);
    assert_string_equal(f->msg, "phone \"12345\" is not a valid phone number");

    set(f, LP_F_PHONE, "555-CALL-NOW");
    assert_int_equal(run(f), LP_E_PHONE_INVALID);
    assert_string_equal(f->msg, "phone \"555-CALL-NOW\" is not a valid phone number");

    f->conf.phone = LP_CHECK_IGNORE;
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_PHONE, "555-CALL-NOW");
}

static void url_checks_name_the_field(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "a@acme.com");
    set(f, LP_F_WEBSITE, "htp://acme.com");
    assert_int_equal(run(f), LP_E_URL_INVALID);
    assert_string_equal(f->msg, "website \"htp://acme.com\" is not a valid URL");

    set(f, LP_F_WEBSITE, "acme.com");
    set(f, LP_F_LINKEDIN_URL, "https://example.com/in/jane");
    assert_int_equal(run(f), LP_E_URL_INVALID);
    assert_string_equal(f->msg,
                        "linkedin_url \"https://example.com/in/jane\" is not a linkedin.com URL");

    set(f, LP_F_LINKEDIN_URL, "https://www.linkedin.com/in/jane");
    assert_int_equal(run(f), LP_OK);

    set(f, LP_F_DOMAIN, "acme");
    assert_int_equal(run(f), LP_E_DOMAIN_INVALID);
    assert_string_equal(f->msg, "company_domain \"acme\" is not a valid domain");

    f->conf.urls = LP_CHECK_IGNORE;
    set(f, LP_F_WEBSITE, "not a site");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_WEBSITE, "not a site");
    assert_field(f, LP_F_DOMAIN, "acme");
}

static void required_fields(void **state)
{
    fixture *f = *state;
    f->conf.required |= 1ull << LP_F_COMPANY | 1ull << LP_F_COUNTRY;
    set(f, LP_F_EMAIL, "a@acme.com");
    set(f, LP_F_COUNTRY, "US");
    set(f, LP_F_COMPANY, " \xC2\xA0");
    assert_int_equal(run(f), LP_E_REQUIRED_MISSING);
    assert_string_equal(f->msg, "required field company_name is missing");

    set(f, LP_F_COMPANY, "Acme");
    assert_int_equal(run(f), LP_OK);

    lp_lead_unset(&f->lead, LP_F_EMAIL);
    assert_int_equal(run(f), LP_E_EMAIL_MISSING);
    assert_string_equal(f->msg, "required field email is missing");

    f->conf.required = 0;
    assert_int_equal(run(f), LP_OK);
}

static void required_company_domain_may_be_derived(void **state)
{
    fixture *f = *state;
    f->conf.required = 1ull << LP_F_DOMAIN;
    set(f, LP_F_EMAIL, "bob@gmail.com");
    assert_int_equal(run(f), LP_E_REQUIRED_MISSING);
    assert_string_equal(f->msg, "required field company_domain is missing");

    set(f, LP_F_WEBSITE, "https://www.initech.io/about");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_DOMAIN, "initech.io");
}

static void company_domain_derivation(void **state)
{
    fixture *f = *state;
    /* from a business email */
    set(f, LP_F_EMAIL, "bob@Initech.com");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_DOMAIN, "initech.com");

    /* not from free mail */
    lp_lead_clear(&f->lead);
    set(f, LP_F_EMAIL, "bob@yahoo.co.uk");
    assert_int_equal(run(f), LP_OK);
    assert_false(lp_lead_has(&f->lead, LP_F_DOMAIN));

    /* the website wins over the email */
    lp_lead_clear(&f->lead);
    set(f, LP_F_EMAIL, "bob@initech.com");
    set(f, LP_F_WEBSITE, "http://Initech.co.uk:8080/");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_DOMAIN, "initech.co.uk");

    /* a given domain is normalised, not replaced */
    set(f, LP_F_DOMAIN, "WWW.Initrode.com/");
    assert_int_equal(run(f), LP_OK);
    assert_field(f, LP_F_DOMAIN, "initrode.com");

    /* switched off */
    lp_lead_clear(&f->lead);
    f->conf.derive_company_domain = false;
    set(f, LP_F_EMAIL, "bob@initech.com");
    assert_int_equal(run(f), LP_OK);
    assert_false(lp_lead_has(&f->lead, LP_F_DOMAIN));
}

static void opt_out(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, "a@acme.com");
    lp_lead_set_long(&f->lead, LP_F_OPTED_OUT, 1);
    assert_int_equal(run(f), LP_OK); /* default: opted-out leads go on */

    f->conf.reject_opted_out = true;
    assert_int_equal(run(f), LP_E_OPTED_OUT);
    assert_string_equal(f->msg, "opted_out is true: the lead opted out of contact");

    lp_lead_set_long(&f->lead, LP_F_OPTED_OUT, 0);
    assert_int_equal(run(f), LP_OK);
}

static void countries_become_iso_codes(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"United States", "US"},          {"U.S.", "US"}, {"England", "GB"}, {"Holland", "NL"},
        {"Middle Earth", "Middle Earth"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lp_lead_clear(&f->lead);
        set(f, LP_F_EMAIL, "a@acme.com");
        set(f, LP_F_COUNTRY, cases[i].in);
        assert_int_equal(run(f), LP_OK);
        assert_field(f, LP_F_COUNTRY, cases[i].want);
    }
}

static void validating_twice_changes_nothing(void **state)
{
    fixture *f = *state;
    set(f, LP_F_EMAIL, " Jane@M\xC3\xBCnchen.DE ");
    set(f, LP_F_PHONE, "'+1 415 555 0132 ext. 9");
    set(f, LP_F_COUNTRY, "usa");
    assert_int_equal(run(f), LP_OK);
    lp_lead once = f->lead;
    assert_int_equal(run(f), LP_OK);
    assert_int_equal(once.present, f->lead.present);
    for (int i = 0; i < LP_F_COUNT; i++)
        if (lp_lead_has(&once, i) && lp_fields[i].type == LP_T_STR)
            assert_memory_equal(once.v[i].s, f->lead.v[i].s, once.v[i].len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults_are_documented_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(clean_lead_is_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(emptied_fields_become_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(trimming_touches_only_what_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_email_is_rejected_with_its_value, setup, teardown),
        cmocka_unit_test_setup_teardown(idn_email_domain_is_punycode, setup, teardown),
        cmocka_unit_test_setup_teardown(ignored_email_check_keeps_the_value, setup, teardown),
        cmocka_unit_test_setup_teardown(message_escapes_and_cuts_the_value, setup, teardown),
        cmocka_unit_test_setup_teardown(phone_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(url_checks_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(required_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(required_company_domain_may_be_derived, setup, teardown),
        cmocka_unit_test_setup_teardown(company_domain_derivation, setup, teardown),
        cmocka_unit_test_setup_teardown(opt_out, setup, teardown),
        cmocka_unit_test_setup_teardown(countries_become_iso_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(validating_twice_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
