/* Unit tests for arena.c, buf.c, err.c, lead.c and record.c: the core types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "lead.h"
#include "record.h"

static void arena_hands_out_aligned_memory_and_resets(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 128);
    char *p = lp_arena_alloc(&a, 3);
    char *q = lp_arena_alloc(&a, 5);
    assert_non_null(p);
    assert_int_equal(((uintptr_t)q) % 8, 0);
    assert_ptr_equal(q, p + 8);
    /* larger than a chunk: gets its own chunk */
    char *big = lp_arena_alloc(&a, 1000);
    assert_non_null(big);
    memset(big, 'x', 1000);
    assert_true(a.used >= 1016);
    lp_arena_reset(&a);
    assert_int_equal(a.used, 0);
    assert_true(a.peak >= 1016);
    char *s = lp_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *f = lp_arena_sprintf(&a, "%s=%d", "n", 42);
    assert_string_equal(f, "n=42");
    lp_arena_free(&a);
}

static void buf_grows(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(lp_buf_puts(&b, "abc"), 0);
    assert_int_equal(b.len, 3000);
    assert_memory_equal(b.data + 2997, "abc", 3);
    lp_buf_free(&b);
}

static void err_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(lp_err_name(LP_E_EMAIL_INVALID), "LP_E_EMAIL_INVALID");
    assert_int_equal(LP_E_EMAIL_INVALID, 112);
    assert_int_equal(lp_err_from_name("LP_E_PHONE_INVALID"), LP_E_PHONE_INVALID);
    assert_int_equal(lp_err_from_name("nope"), -1);
    assert_int_equal(lp_err_exit_code(LP_E_CONFIG), 2);
    assert_int_equal(lp_err_exit_code(LP_E_IO), 1);
}

static void fields_resolve_by_name(void **state)
{
    (void)state;
    assert_int_equal(lp_field_lookup("email", 5), LP_F_EMAIL);
    assert_int_equal(lp_field_lookup("score.total", 11), LP_F_SCORE_TOTAL);
    assert_int_equal(lp_field_lookup("emailx", 6), -1);
    assert_int_equal(lp_fields[LP_F_EMPLOYEES].type, LP_T_LONG);
    lp_lead l;
    lp_lead_clear(&l);
    assert_false(lp_lead_has(&l, LP_F_EMAIL));
    lp_lead_set_str(&l, LP_F_EMAIL, "a@b.c", 5);
    assert_true(lp_lead_has(&l, LP_F_EMAIL));
    assert_int_equal(lp_lead_str(&l, LP_F_EMAIL).len, 5);
}

static void record_reject_keeps_reason(void **state)
{
    (void)state;
    lp_record r;
    lp_record_init(&r);
    assert_int_equal(r.origin.partition, -1);
    lp_record_reject(&r, LP_STAGE_VALIDATE, LP_E_EMAIL_INVALID, NULL);
    assert_int_equal(r.err, LP_E_EMAIL_INVALID);
    assert_string_equal(lp_stage_name(r.err_stage), "validate");
    assert_string_equal(r.err_msg, "email is not a valid address");
    assert_string_equal(lp_disposition_name(LP_DISP_DUPLICATE), "duplicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_hands_out_aligned_memory_and_resets),
        cmocka_unit_test(buf_grows),
        cmocka_unit_test(err_names_are_stable),
        cmocka_unit_test(fields_resolve_by_name),
        cmocka_unit_test(record_reject_keeps_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
