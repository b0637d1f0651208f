/* Unit tests for park.c: detached records and completion queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "park.h"

/* A record whose every pointer lies in the arena a. */
static void make_record(lp_arena *a, lp_record *r)
{
    lp_record_init(r);
    char *email = lp_arena_strndup(a, "ana@acme.io", 11);
    char *title = lp_arena_strndup(a, "VP Sales", 8);
    lp_lead_set_str(&r->lead, LP_F_EMAIL, email, 11);
    lp_lead_set_str(&r->lead, LP_F_TITLE, title, 8);
    lp_lead_set_long(&r->lead, LP_F_EMPLOYEES, 1200);
    lp_str *tech = lp_arena_alloc(a, 2 * sizeof(lp_str));
    tech[0] = (lp_str){lp_arena_strndup(a, "aws", 3), 3};
    tech[1] = (lp_str){lp_arena_strndup(a, "salesforce", 10), 10};
    r->lead.v[LP_F_TECHNOLOGIES].list = tech;
    r->lead.v[LP_F_TECHNOLOGIES].len = 2;
    r->lead.present |= 1ull << LP_F_TECHNOLOGIES;
    lp_kv *kv = lp_arena_alloc(a, sizeof(lp_kv));
    kv->key = (lp_str){lp_arena_strndup(a, "Stage", 5), 5};
    kv->val = (lp_str){lp_arena_strndup(a, "Cold", 4), 4};
    r->lead.custom = kv;
    r->lead.ncustom = 1;
    r->raw = (lp_str){lp_arena_strndup(a, "raw,bytes", 9), 9};
    r->reasons = lp_arena_alloc(a, sizeof(lp_reason));
    r->reasons[0] = (lp_reason){"vice_president", "seniority", 20, 0};
    r->nreasons = 1;
    r->next_stage = LP_STAGE_ENRICH;
}

static void detached_record_survives_its_arena(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 1024);
    lp_record r;
    make_record(&a, &r);
    lp_parked *p = lp_park_detach(&r, (void *)7, 1234);
    assert_non_null(p);
    /* reuse the batch arena as the next batch would: the parked copy must
     * not point into it */
    lp_arena_reset(&a);
    memset(lp_arena_alloc(&a, 1000), 0xdd, 1000);
    lp_record *c = &p->rec;
    assert_memory_equal(lp_lead_str(&c->lead, LP_F_EMAIL).ptr, "ana@acme.io", 11);
    assert_memory_equal(lp_lead_str(&c->lead, LP_F_TITLE).ptr, "VP Sales", 8);
    assert_int_equal(c->lead.v[LP_F_EMPLOYEES].i, 1200);
    assert_int_equal(c->lead.v[LP_F_TECHNOLOGIES].len, 2);
    assert_memory_equal(c->lead.v[LP_F_TECHNOLOGIES].list[1].ptr, "salesforce", 10);
    assert_memory_equal(c->lead.custom[0].val.ptr, "Cold", 4);
    assert_memory_equal(c->raw.ptr, "raw,bytes", 9);
    assert_string_equal(c->reasons[0].rule, "vice_president");
    assert_int_equal(c->next_stage, LP_STAGE_ENRICH);
    assert_ptr_equal(p->owner, (void *)7);
    assert_int_equal(p->deadline_ms, 1234);
    lp_parked_free(p);
    lp_arena_free(&a);
}

static void *push_later(void *arg)
{
    lp_park_queue *q = arg;
    for (int i = 0; i < 100; i++) {
        lp_record r;
        lp_record_init(&r);
        lp_park_queue_push(q, lp_park_detach(&r, (void *)(uintptr_t)i, 0));
    }
    return NULL;
}

static void queue_hands_records_over_in_order(void **state)
{
    (void)state;
    lp_park_queue q;
    lp_park_queue_init(&q);
    assert_null(lp_park_queue_take(&q, 0));
    assert_null(lp_park_queue_take(&q, 20)); /* times out empty */
    pthread_t t;
    pthread_create(&t, NULL, push_later, &q);
    uintptr_t expect = 0;
    while (expect < 100) {
        lp_parked *list = lp_park_queue_take(&q, 1000);
        assert_non_null(list);
        while (list) {
            lp_parked *p = list;
            list = p->next;
            assert_int_equal((uintptr_t)p->owner, expect++);
            lp_parked_free(p);
        }
    }
    pthread_join(t, NULL);
    lp_park_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(detached_record_survives_its_arena),
        cmocka_unit_test(queue_hands_records_over_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
