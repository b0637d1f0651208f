/* Unit tests for strset.c: case-insensitive membership, growth, long members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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
    /* longer than the 256-byte fold buffer: exercises the streaming hash */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(membership_ignores_ascii_case),
        cmocka_unit_test(duplicates_count_once),
        cmocka_unit_test(grows_past_many_members),
        cmocka_unit_test(long_members_hash_like_short_ones),
        cmocka_unit_test(longer_than_every_member_is_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
