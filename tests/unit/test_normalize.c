/* Unit tests for normalize.c: trimming, emails, IDN domains, web addresses,
 * phone numbers, countries and free-mail detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "normalize.h"

static lp_str S(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

/* Asserts that got holds exactly want, and says which case failed. */
static void assert_str(const char *what, lp_str got, const char *want)
{
    if (got.len != strlen(want) || memcmp(got.ptr, want, got.len) != 0) {
        print_error("%s: got \"%.*s\", want \"%s\"\n", what, (int)got.len, got.ptr, want);
        fail();
    }
}

static void trim_removes_ascii_and_unicode_space(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"  alice  ", "alice"},
        {"\t\r\nalice\r\n", "alice"},
        {"\xC2\xA0"
         "alice\xC2\xA0",
         "alice"}, /* NBSP */
        {"\xE3\x80\x80"
         "山田\xE3\x80\x80",
         "山田"}, /* U+3000 */
        {"\xEF\xBB\xBF"
         "Acme GmbH",
         "Acme GmbH"}, /* BOM */
        {"\xE2\x80\x8B"
         "x\xE2\x80\xAF",
         "x"},                                                      /* ZWSP, U+202F */
        {"Jos\xC3\xA9 M\xC3\xBCller", "Jos\xC3\xA9 M\xC3\xBCller"}, /* inside: untouched */
        {"a\xC2\xA0"
         "b",
         "a\xC2\xA0"
         "b"},
        {" \xC2\xA0 \xE3\x80\x80 ", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_str(cases[i].in, lp_normalize_trim(S(cases[i].in)), cases[i].want);
}

static void trim_is_zero_copy(void **state)
{
    (void)state;
    const char *in = "  bob ";
    lp_str t = lp_normalize_trim(S(in));
    assert_ptr_equal(t.ptr, in + 2);
    assert_int_equal(t.len, 3);
}

static void email_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        lp_err_t err;
        const char *email, *domain;
    } cases[] = {
        {"bob@example.com", LP_OK, "bob@example.com", "example.com"},
        {"  Bob.Smith@Example.COM ", LP_OK, "bob.smith@example.com", "example.com"},
        {"\xC2\xA0"
         "alice@example.com\xC2\xA0",
         LP_OK, "alice@example.com", "example.com"},
        {"first.last+tag@sub.example.co.uk", LP_OK, "first.last+tag@sub.example.co.uk",
         "sub.example.co.uk"},
        {"o'brien@example.ie", LP_OK, "o'brien@example.ie", "example.ie"},
        {"\"john doe\"@example.com", LP_OK, "\"john doe\"@example.com", "example.com"},
        {"\"a@b\"@example.com", LP_OK, "\"a@b\"@example.com", "example.com"},
        {"user@m\xC3\xBCnchen.de", LP_OK, "user@xn--mnchen-3ya.de", "xn--mnchen-3ya.de"},
        {"User@M\xC3\x9CNCHEN.DE", LP_OK, "user@xn--mnchen-3ya.de", "xn--mnchen-3ya.de"},
        {"jos\xC3\xA9@example.com", LP_OK, "jos\xC3\xA9@example.com", "example.com"},
        {"\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A", LP_OK,
         "\xE7\x94\xA8\xE6\x88\xB7@xn--fsqu00a.xn--4rr70v", "xn--fsqu00a.xn--4rr70v"},
        {"x@a-b.io", LP_OK, "x@a-b.io", "a-b.io"},
        {"bob@@example", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@a@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob", LP_E_EMAIL_INVALID, NULL, NULL},
        {"@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@example", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@-example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@example-.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@example.123", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@example..com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@exa_mple.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@example.com.", LP_E_EMAIL_INVALID, NULL, NULL},
        {".bob@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob.@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bo..b@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob smith@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob\xC2\xA0smith@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob(x)@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"\"unterminated@example.com", LP_E_EMAIL_INVALID, NULL, NULL},
        {"bob@[192.168.0.1]", LP_E_EMAIL_INVALID, NULL, NULL},
        {"", LP_E_EMAIL_INVALID, NULL, NULL},
    };
    lp_arena a;
    lp_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lp_str email = {0}, domain = {0};
        lp_err_t err = lp_normalize_email(S(cases[i].in), &a, &email, &domain);
        if (err != cases[i].err) {
            print_error("%s: got %s, want %s\n", cases[i].in, lp_err_name(err),
                        lp_err_name(cases[i].err));
            fail();
        }
        if (err == LP_OK) {
            assert_str(cases[i].in, email, cases[i].email);
            assert_str(cases[i].in, domain, cases[i].domain);
        }
    }
    lp_arena_free(&a);
}

static void email_length_limits(void **state)
{
    (void)state;
    char local[80], addr[300];
    lp_str email, domain;
    lp_arena a;
    lp_arena_init(&a, 0);

    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(addr, sizeof(addr), "%s@example.com", local);
    assert_int_equal(lp_normalize_email(S(addr), &a, &email, &domain), LP_OK);
    snprintf(addr, sizeof(addr), "%sa@example.com", local);
    assert_int_equal(lp_normalize_email(S(addr), &a, &email, &domain), LP_E_EMAIL_INVALID);

    /* 254 bytes in all is the limit: bob@ + four 60-byte labels + ".com" is 251 */
    char label[61];
    memset(label, 'd', 60);
    label[60] = '\0';
    snprintf(addr, sizeof(addr), "bobbob@%s.%s.%s.%s.com", label, label, label, label);
    assert_int_equal(strlen(addr), 254);
    assert_int_equal(lp_normalize_email(S(addr), &a, &email, &domain), LP_OK);
    snprintf(addr, sizeof(addr), "bobbobb@%s.%s.%s.%s.com", label, label, label, label);
    assert_int_equal(lp_normalize_email(S(addr), &a, &email, &domain), LP_E_EMAIL_INVALID);
    lp_arena_free(&a);
}

static void email_is_zero_copy_when_already_normal(void **state)
{
    (void)state;
    const char *in = " bob@example.com ";
    lp_str email, domain;
    lp_arena a;
    lp_arena_init(&a, 0);
    assert_int_equal(lp_normalize_email(S(in), &a, &email, &domain), LP_OK);
    assert_ptr_equal(email.ptr, in + 1);
    assert_ptr_equal(domain.ptr, in + 5);
    assert_int_equal(a.used, 0);
    lp_arena_free(&a);
}

static void domain_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        lp_err_t err;
        const char *want;
    } cases[] = {
        {"example.com", LP_OK, "example.com"},
        {"Example.COM", LP_OK, "example.com"},
        {"www.example.com", LP_OK, "example.com"},
        {"https://www.Example.com:8080/about?x=1#top", LP_OK, "example.com"},
        {"HTTP://shop.example.co.uk/", LP_OK, "shop.example.co.uk"},
        {"example.com.", LP_OK, "example.com"},
        {"m\xC3\xBCnchen.de", LP_OK, "xn--mnchen-3ya.de"},
        {"https://www.m\xC3\xBCnchen.de/stadt", LP_OK, "xn--mnchen-3ya.de"},
        {"b\xC3\xBC"
         "cher.example",
         LP_OK, "xn--bcher-kva.example"},
        {"www.com", LP_OK, "www.com"},
        {" \xC2\xA0"
         "acme.io ",
         LP_OK, "acme.io"},
        {"localhost", LP_E_DOMAIN_INVALID, NULL},
        {"ftp://example.com", LP_E_DOMAIN_INVALID, NULL},
        {"exa mple.com", LP_E_DOMAIN_INVALID, NULL},
        {"-acme.com", LP_E_DOMAIN_INVALID, NULL},
        {"example.com:http", LP_E_DOMAIN_INVALID, NULL},
        {"192.168.0.1", LP_E_DOMAIN_INVALID, NULL},
        {"https://", LP_E_DOMAIN_INVALID, NULL},
        {"", LP_E_DOMAIN_INVALID, NULL},
    };
    lp_arena a;
    lp_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lp_str d = {0};
        lp_err_t err = lp_normalize_domain(S(cases[i].in), &a, &d);
        if (err != cases[i].err) {
            print_error("%s: got %s, want %s\n", cases[i].in, lp_err_name(err),
                        lp_err_name(cases[i].err));
            fail();
        }
        if (err == LP_OK)
            assert_str(cases[i].in, d, cases[i].want);
    }
    lp_arena_free(&a);
}

static void url_shapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        lp_err_t err;
        bool linkedin;
    } cases[] = {
        {"https://acme.com", LP_OK, false},
        {"http://acme.com/path/to?q=1", LP_OK, false},
        {"acme.com", LP_OK, false},
        {"acme.com/about", LP_OK, false},
        {"https://www.linkedin.com/in/jane-doe", LP_OK, true},
        {"linkedin.com/in/jane", LP_OK, true},
        {"https://de.linkedin.com/in/jane", LP_OK, true},
        {"https://notlinkedin.com/in/jane", LP_OK, false},
        {"https://linkedin.com.evil.io/in/jane", LP_OK, false},
        {"htp://acme.com", LP_E_URL_INVALID, false},
        {"mailto:bob@acme.com", LP_E_URL_INVALID, false},
        {"bob@acme.com", LP_E_URL_INVALID, false},
        {"https://user:pw@acme.com/", LP_E_URL_INVALID, false},
        {"javascript:alert(1)", LP_E_URL_INVALID, false},
        {"https://acme", LP_E_URL_INVALID, false},
        {"https://acme.com/a b", LP_E_URL_INVALID, false},
        {"n/a", LP_E_URL_INVALID, false},
    };
    lp_arena a;
    lp_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lp_str host = {0};
        lp_err_t err = lp_normalize_url(S(cases[i].in), &a, &host);
        if (err != cases[i].err) {
            print_error("%s: got %s, want %s\n", cases[i].in, lp_err_name(err),
                        lp_err_name(cases[i].err));
            fail();
        }
        if (err == LP_OK && lp_normalize_is_linkedin_host(host) != cases[i].linkedin) {
            print_error("%s: linkedin host should be %d\n", cases[i].in, cases[i].linkedin);
            fail();
        }
    }
    lp_arena_free(&a);
}

static void phone_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        lp_err_t err;
        const char *want;
    } cases[] = {
        {"+1 (415) 555-0132", LP_OK, "+1 (415) 555-0132"}, /* US */
        {"415.555.0132", LP_OK, "415.555.0132"},
        {"'+49 30 1234567", LP_OK, "+49 30 1234567"}, /* DE, spreadsheet quote */
        {"030/1234567", LP_OK, "030/1234567"},
        {"+44 20 7946 0958", LP_OK, "+44 20 7946 0958"},   /* GB */
        {"+33 1 23 45 67 89", LP_OK, "+33 1 23 45 67 89"}, /* FR */
        {"+81-3-1234-5678", LP_OK, "+81-3-1234-5678"},     /* JP */
        {"+91 98765 43210", LP_OK, "+91 98765 43210"},     /* IN */
        {"(+44) 20 7946 0958", LP_OK, "(+44) 20 7946 0958"},
        {" +1 415 555 0132 x123 ", LP_OK, "+1 415 555 0132 x123"},
        {"+1 415 555 0132 ext. 45", LP_OK, "+1 415 555 0132 ext. 45"},
        {"+1 415 555 0132 Extension 45", LP_OK, "+1 415 555 0132 Extension 45"},
        {"415-555-0132 #9", LP_OK, "415-555-0132 #9"},
        {"1234567", LP_OK, "1234567"},
        {"123456", LP_E_PHONE_INVALID, NULL},                 /* too short */
        {"+1 234 567 890 123 456", LP_E_PHONE_INVALID, NULL}, /* 16 digits */
        {"555-CALL-NOW", LP_E_PHONE_INVALID, NULL},           /* letters */
        {"call me", LP_E_PHONE_INVALID, NULL},
        {"415 555 0132 x", LP_E_PHONE_INVALID, NULL},           /* empty extension */
        {"415 555 0132 ext 1234567", LP_E_PHONE_INVALID, NULL}, /* extension too long */
        {"+1 415 +555 0132", LP_E_PHONE_INVALID, NULL},
        {"(415 555 0132", LP_E_PHONE_INVALID, NULL},
        {"'", LP_E_PHONE_INVALID, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lp_str p = {0};
        lp_err_t err = lp_normalize_phone(S(cases[i].in), &p);
        if (err != cases[i].err) {
            print_error("%s: got %s, want %s\n", cases[i].in, lp_err_name(err),
                        lp_err_name(cases[i].err));
            fail();
        }
        if (err == LP_OK)
            assert_str(cases[i].in, p, cases[i].want);
    }
}

static void country_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"United States", "US"},
        {"USA", "US"},
        {"U.S.", "US"},
        {"us", "US"},
        {"U.S.A.", "US"},
        {"united states of america", "US"},
        {" US ", "US"},
        {"United Kingdom", "GB"},
        {"UK", "GB"},
        {"Great Britain", "GB"},
        {"England", "GB"},
        {"gb", "GB"},
        {"Deutschland", "DE"},
        {"Germany", "DE"},
        {"DEU", "DE"},
        {"The Netherlands", "NL"},
        {"Holland", "NL"},
        {"\xC3\x96sterreich", "AT"},
        {"\xC3\xB6sterreich", "AT"},
        {"Espa\xC3\xB1"
         "a",
         "ES"},
        {"Schweiz", "CH"},
        {"Korea, Republic of", "KR"},
        {"South Korea", "KR"},
        {"\xE6\x97\xA5\xE6\x9C\xAC", "JP"},
        {"\xE4\xB8\xAD\xE5\x9B\xBD", "CN"},
        {"\xD0\xA0\xD0\xBE\xD1\x81\xD1\x81\xD0\xB8\xD1\x8F", "RU"},
        {"Brasil", "BR"},
        {"M\xC3\xA9xico", "MX"},
        {"UAE", "AE"},
        {"India", "IN"},
        {"T\xC3\xBCrkiye", "TR"},
        {"Czechia", "CZ"},
        {"new zealand", "NZ"},
        {"Narnia", "Narnia"},
        {" Atlantis ", "Atlantis"},
        {"XX", "XX"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_str(cases[i].in, lp_normalize_country(S(cases[i].in)), cases[i].want);
}

static void free_mail_detection(void **state)
{
    (void)state;
    static const char *const free_mail[] = {
        "gmail.com",   "GMail.com",      "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr",
        "hotmail.com", "hotmail.com.br", "outlook.com",    "live.com",  "icloud.com",  "aol.com",
        "gmx.de",      "gmx.net",        "web.de",         "mail.ru",   "yandex.ru",   "qq.com",
        "163.com",     "proton.me",      "protonmail.com",
    };
    static const char *const business[] = {
        "acme.com",         "yahoo.example.com", "mygmail.com",
        "gmail.company.io", "live.acme.com",     "xn--mnchen-3ya.de",
    };
    for (size_t i = 0; i < sizeof(free_mail) / sizeof(free_mail[0]); i++)
        if (!lp_normalize_is_free_mail(S(free_mail[i]))) {
            print_error("%s should be free mail\n", free_mail[i]);
            fail();
        }
    for (size_t i = 0; i < sizeof(business) / sizeof(business[0]); i++)
        if (lp_normalize_is_free_mail(S(business[i]))) {
            print_error("%s should not be free mail\n", business[i]);
            fail();
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trim_removes_ascii_and_unicode_space),
        cmocka_unit_test(trim_is_zero_copy),
        cmocka_unit_test(email_table),
        cmocka_unit_test(email_length_limits),
        cmocka_unit_test(email_is_zero_copy_when_already_normal),
        cmocka_unit_test(domain_table),
        cmocka_unit_test(url_shapes),
        cmocka_unit_test(phone_table),
        cmocka_unit_test(country_table),
        cmocka_unit_test(free_mail_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
