/*
 * Unit tests for strset.c: case-insensitive membership, growth, long
 * members, and the quality of the set hash (case folding at every length,
 * every byte counted, spread over slots and filter bits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strset.h"

static void membership_ignores_ascii_case(void **state)
{
    (void)state;
    lp_strset *s = lp_strset_new();
    assert_non_null(s);
    assert_int_equal(lp_strset_add(s, "Gmail.com", 9), 0);
    assert_int_equal(lp_strset_add(s, "yahoo.com", 9), 0);
    assert_true(lp_strset_has(s, "gmail.com", 9));
    assert_true(lp_strset_has(s, "GMAIL.COM", 9));
    assert_true(lp_strset_has(s, "YaHoO.cOm", 9));
    assert_false(lp_strset_has(s, "gmail.co", 8));
    assert_false(lp_strset_has(s, "gmail.comx", 10));
    assert_false(lp_strset_has(s, "outlook.com", 11));
    /* non-ASCII bytes are compared exactly, not folded */
    assert_int_equal(lp_strset_add(s, "M\xc3\xbcnchen", 8), 0);
    assert_true(lp_strset_has(s, "m\xc3\xbcnchen", 8));
    assert_false(lp_strset_has(s, "m\xc3\x9cnchen", 8));
    lp_strset_free(s);
}

static void duplicates_count_once(void **state)
{
    (void)state;
    lp_strset *s = lp_strset_new();
    assert_int_equal(lp_strset_count(s), 0);
    assert_false(lp_strset_has(s, "US", 2)); /* empty set */
    assert_int_equal(lp_strset_add(s, "US", 2), 0);
    assert_int_equal(lp_strset_add(s, "us", 2), 0);
    assert_int_equal(lp_strset_add(s, "Us", 2), 0);
    assert_int_equal(lp_strset_count(s), 1);
    assert_int_equal(lp_strset_add(s, "", 0), 0);
    assert_int_equal(lp_strset_count(s), 2);
    assert_true(lp_strset_has(s, "", 0));
    lp_strset_free(s);
}

static void grows_past_many_members(void **state)
{
    (void)state;
    lp_strset *s = lp_strset_new();
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "Domain-%d.example", i);
        assert_int_equal(lp_strset_add(s, buf, (size_t)n), 0);
    }
    assert_int_equal(lp_strset_count(s), 5000);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "DOMAIN-%d.EXAMPLE", i);
        assert_true(lp_strset_has(s, buf, (size_t)n));
    }
    assert_false(lp_strset_has(s, "domain-5000.example", 19));
    lp_strset_free(s);
}

static void long_members_hash_like_short_ones(void **state)
{
    (void)state;
    /* many 16-byte steps of the hash, then its last 16 bytes */
    char member[700], query[700];
    for (size_t i = 0; i < sizeof member; i++) {
        member[i] = (char)('a' + i % 26);
        query[i] = (char)('A' + i % 26);
    }
    lp_strset *s = lp_strset_new();
    assert_int_equal(lp_strset_add(s, member, sizeof member), 0);
    assert_int_equal(lp_strset_add(s, "short", 5), 0);
    assert_true(lp_strset_has(s, query, sizeof query));
    assert_false(lp_strset_has(s, member, 300)); /* a prefix is not a member */
    assert_false(lp_strset_has(s, query, 699));
    query[699] = '!';
    assert_false(lp_strset_has(s, query, sizeof query));
    assert_true(lp_strset_has(s, "SHORT", 5));
    lp_strset_free(s);
}

static void longer_than_every_member_is_absent(void **state)
{
    (void)state;
    lp_strset *s = lp_strset_new();
    assert_int_equal(lp_strset_add(s, "ca", 2), 0);
    char big[1000];
    memset(big, 'c', sizeof big);
    assert_false(lp_strset_has(s, big, sizeof big));
    assert_true(lp_strset_has(s, "CA", 2));
    lp_strset_free(s);
    lp_strset_free(NULL);
}

/* A deterministic 64-bit generator (splitmix64), so failures reproduce. */
static uint64_t next_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A letter of either case flipped when the coin says so; other bytes kept. */
static char flip_case(char c, uint64_t coin)
{
    unsigned char u = (unsigned char)c;
    bool letter = (u | 0x20) >= 'a' && (u | 0x20) <= 'z';
    return letter && (coin & 1) ? (char)(u ^ 0x20) : c;
}

/* Random bytes of every kind (letters, digits, punctuation, >= 0x80), every length. */
static void hash_ignores_ascii_case_at_every_length(void **state)
{
    (void)state;
    uint64_t st = 1;
    char a[320], b[320];
    for (size_t len = 0; len <= sizeof a; len++) {
        size_t n = len <= 80 ? len : len - len % 37; /* every short length, some long ones */
        for (int rep = 0; rep < 8; rep++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t r = next_rand(&st);
                a[i] = (r & 3) ? (char)('a' + (r >> 8) % 26) : (char)(r >> 16);
                b[i] = flip_case(a[i], r >> 40);
            }
            assert_true(lp_strset_hash(a, n) == lp_strset_hash(b, n));
        }
    }
    /* bytes 0x20 apart that are not letters stay distinct */
    assert_true(lp_strset_hash("a@b", 3) != lp_strset_hash("a`b", 3));
    assert_true(lp_strset_hash("x[1]", 4) != lp_strset_hash("x{1]", 4));
    assert_true(lp_strset_hash("\xc3\xa9", 2) != lp_strset_hash("\xc3\xc9", 2));
}

/* Changing any one byte of a value (not only its case) changes the hash. */
static void hash_sees_every_byte(void **state)
{
    (void)state;
    uint64_t st = 2;
    char v[96];
    for (size_t n = 1; n <= sizeof v; n++) {
        for (size_t i = 0; i < n; i++)
            v[i] = (char)('a' + next_rand(&st) % 26);
        uint64_t h = lp_strset_hash(v, n);
        for (size_t i = 0; i < n; i++) {
            char keep = v[i];
            v[i] = (char)(keep == 'z' ? '0' : keep + 1);
            assert_true(lp_strset_hash(v, n) != h);
            v[i] = keep;
        }
        assert_true(lp_strset_hash(v, n - 1) != h); /* a prefix, or a NUL more */
        v[n - 1] = '\0';
        assert_true(lp_strset_hash(v, n) != h);
    }
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/*
 * Chi-square of n hashes over 2^bits buckets, taken from the low bits
 * (slots) or the top bits (the filter), against a bound six standard
 * deviations above its mean; and no two hashes of distinct values equal.
 */
static void assert_spread(uint64_t *h, size_t n, unsigned bits, const char *what)
{
    size_t k = (size_t)1 << bits;
    size_t *low = calloc(k, sizeof *low), *top = calloc(k, sizeof *top);
    for (size_t i = 0; i < n; i++) {
        low[h[i] & (k - 1)]++;
        top[h[i] >> (64 - bits)]++;
    }
    double e = (double)n / (double)k, chi_low = 0, chi_top = 0;
    for (size_t b = 0; b < k; b++) {
        chi_low += ((double)low[b] - e) * ((double)low[b] - e) / e;
        chi_top += ((double)top[b] - e) * ((double)top[b] - e) / e;
    }
    double bound = (double)(k - 1) + 6.0 * sqrt(2.0 * (double)(k - 1));
    if (chi_low > bound || chi_top > bound)
        fail_msg("%s: chi-square low %.0f, top %.0f, bound %.0f", what, chi_low, chi_top, bound);
    qsort(h, n, sizeof *h, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (h[i] == h[i - 1])
            fail_msg("%s: two values share a 64-bit hash", what);
    free(low);
    free(top);
}

/* The members of pipelines/default.yaml's sets: short, similar strings. */
static const char *const default_members[] = {
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "hotmail.com",
    "hotmail.co.uk", "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "aol.com",
    "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com", "proton.me",
    "protonmail.com", "zoho.com", "mailinator.com", "guerrillamail.com", "10minutemail.com",
    "tempmail.com", "trashmail.com", "yopmail.com", "leadrival.io", "pipeforge.com",
    "scoreflow.ai", "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "ES",
    "PT", "IT", "SE", "NO", "DK", "FI", "PL", "CZ", "IL", "AE", "ZA", "SA", "AU", "NZ", "JP",
    "SG", "IN", "KR", "HK", "CN", "ID", "MY", "PH", "TH", "VN", "BR", "MX", "AR", "CL", "CO",
    "PE", "Computer Software", "Information Technology & Services", "Internet",
    "Financial Services", "Banking", "Insurance", "Marketing & Advertising",
    "Telecommunications", "Computer & Network Security", "E-Learning",
    "Hospital & Health Care", "Retail", "Logistics & Supply Chain", "Management Consulting",
    "Staffing & Recruiting", "Real Estate", "Government Administration",
    "Nonprofit Organization Management", "Religious Institutions", "Education Management",
    "Higher Education", "salesforce", "hubspot", "pipedrive", "zoho crm",
    "microsoft dynamics", "marketo", "pardot", "eloqua", "hubspot marketing", "mailchimp",
    "braze", "snowflake", "bigquery", "redshift", "databricks", "segment", "fivetran", "dbt",
    "aws", "gcp", "azure", "google cloud", "amazon web services", "cpc", "ppc", "paid_search",
    "referral", "partner", "event", "webinar", "c_suite", "owner", "founder", "entry", "senior",
};

/*
 * The default sets' members fill about as many slot and filter buckets as
 * random numbers would (n balls in 256 bins: 256 * (1 - (255/256)^n)).
 * Random strings, numbered keys and two-letter codes spread evenly.
 */
static void hash_spreads_default_sets_and_random_strings(void **state)
{
    (void)state;
    size_t nm = sizeof default_members / sizeof default_members[0];
    uint8_t low[256] = {0}, top[256] = {0};
    size_t used_low = 0, used_top = 0;
    for (size_t i = 0; i < nm; i++) {
        uint64_t h = lp_strset_hash(default_members[i], strlen(default_members[i]));
        used_low += !low[h & 255]++;
        used_top += !top[h >> 56]++;
    }
    double expect = 256.0 * (1.0 - pow(255.0 / 256.0, (double)nm));
    assert_true((double)used_low > expect - 15 && (double)used_top > expect - 15);

    enum { N = 100000 };
    uint64_t *h = malloc(N * sizeof *h);
    uint64_t st = 3;
    char buf[64];
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_ @";
    for (size_t i = 0; i < N; i++) { /* distinct: a unique number, then random bytes */
        int n = snprintf(buf, sizeof buf, "%zx.", i);
        size_t len = (size_t)n + next_rand(&st) % 40;
        for (size_t j = (size_t)n; j < len; j++)
            buf[j] = alphabet[next_rand(&st) % (sizeof alphabet - 1)];
        h[i] = lp_strset_hash(buf, len);
    }
    assert_spread(h, N, 10, "random strings");
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "lead-%zu@example.com", i);
        h[i] = lp_strset_hash(buf, (size_t)n);
    }
    assert_spread(h, N, 10, "numbered keys");
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "%zu", i);
        h[i] = lp_strset_hash(buf, (size_t)n);
    }
    assert_spread(h, N, 10, "decimal numbers");
    size_t n2 = 0;
    for (int a = 32; a < 127; a++) /* every two-byte value, up to case */
        for (int b = 32; b < 127; b++)
            if (!(a >= 'A' && a <= 'Z') && !(b >= 'A' && b <= 'Z')) {
                char v[2] = {(char)a, (char)b};
                h[n2++] = lp_strset_hash(v, 2);
            }
    assert_spread(h, n2, 8, "two-byte values");
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(membership_ignores_ascii_case),
        cmocka_unit_test(duplicates_count_once),
        cmocka_unit_test(grows_past_many_members),
        cmocka_unit_test(long_members_hash_like_short_ones),
        cmocka_unit_test(longer_than_every_member_is_absent),
        cmocka_unit_test(hash_ignores_ascii_case_at_every_length),
        cmocka_unit_test(hash_sees_every_byte),
        cmocka_unit_test(hash_spreads_default_sets_and_random_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
