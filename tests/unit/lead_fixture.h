/*
 * lead_fixture.h - one realistic lead and its outcomes, shared by
 * test_codec.c, test_encode.c and test_sink.c.
 *
 * tests/tools/avro_check.py checks the files test_sink.c writes from these
 * records against the same values: change both together.
 *
 * Every input field type is covered, with non-ASCII text, an empty string,
 * characters JSON must escape, a list with an empty item and custom
 * attributes. city and form_fills are left absent on purpose.
 */
#ifndef LP_TEST_LEAD_FIXTURE_H
#define LP_TEST_LEAD_FIXTURE_H

#include <string.h>

#include "encode.h"
#include "lead.h"
#include "record.h"

#define FX_RECEIVED_AT 1767323045000LL   /* 2026-01-02T03:04:05.000Z */
#define FX_LAST_ACTIVITY 1766906400000LL /* 2025-12-28T07:20:00.000Z */
#define FX_PROCESSED_AT 1767323046123LL  /* 2026-01-02T03:04:06.123Z */
#define FX_SEND_AT 1767409445000LL       /* 2026-01-03T03:04:05.000Z */

static const lp_str fx_technologies[] = {
    {"Salesforce", 10}, {"HubSpot", 7}, {"", 0}, {"Snowflake \xe2\x9d\x84", 13}};

static lp_kv fx_custom[] = {
    {{"Apollo Contact Id", 17}, {"abc123", 6}},
    {{"Lists", 5}, {"A, B", 4}},
};

static lp_reason fx_reasons[] = {
    {"vp_title", "title", 20, LP_DIM_FIT},
    {"recent_visit", NULL, 12, LP_DIM_ENGAGEMENT},
};

static lp_task fx_task = {"welcome", "tpl-1", 2, FX_SEND_AT};

#define FX_RUN ((lp_run_info){"default", "sha256:abc"})

static inline void fx_set(lp_lead *l, lp_field_id f, const char *s)
{
    lp_lead_set_str(l, f, s, strlen(s));
}

/* Fills every input field but city and form_fills. */
static inline void fx_lead(lp_lead *l)
{
    memset(l, 0, sizeof(*l));
    fx_set(l, LP_F_LEAD_ID, "L-0001");
    fx_set(l, LP_F_SOURCE, "apollo");
    lp_lead_set_long(l, LP_F_RECEIVED_AT, FX_RECEIVED_AT);
    fx_set(l, LP_F_EMAIL, "zoe.mueller@example.com");
    fx_set(l, LP_F_FIRST_NAME, "Zo\xc3\xab");
    fx_set(l, LP_F_LAST_NAME, "M\xc3\xbcller-\xc5\x81ukasz");
    fx_set(l, LP_F_TITLE, "VP \"Growth\" \\ Ops\n");
    fx_set(l, LP_F_SENIORITY, "vp");
    fx_set(l, LP_F_DEPARTMENT, "");
    fx_set(l, LP_F_PHONE, "+49 30 1234567");
    fx_set(l, LP_F_LINKEDIN_URL, "https://www.linkedin.com/in/zoe");
    fx_set(l, LP_F_COMPANY, "\xe6\x97\xa5\xe6\x9c\xac\xe9\x9b\xbb\xe6\xb0\x97 GmbH");
    fx_set(l, LP_F_DOMAIN, "example.com");
    fx_set(l, LP_F_WEBSITE, "https://example.com");
    fx_set(l, LP_F_INDUSTRY, "Software");
    lp_lead_set_long(l, LP_F_EMPLOYEES, 1200);
    lp_lead_set_double(l, LP_F_REVENUE, 4500000.25);
    fx_set(l, LP_F_COUNTRY, "DE");
    fx_set(l, LP_F_REGION, "Berlin");
    l->v[LP_F_TECHNOLOGIES].list = fx_technologies;
    l->v[LP_F_TECHNOLOGIES].len = 4;
    l->present |= 1ull << LP_F_TECHNOLOGIES;
    lp_lead_set_long(l, LP_F_PAGE_VIEWS, 42);
    lp_lead_set_long(l, LP_F_EMAIL_OPENS, 0);
    lp_lead_set_long(l, LP_F_EMAIL_CLICKS, -3);
    lp_lead_set_long(l, LP_F_LAST_ACTIVITY, FX_LAST_ACTIVITY);
    fx_set(l, LP_F_CAMPAIGN, "Q1 \xf0\x9f\x98\x80 launch");
    fx_set(l, LP_F_UTM_SOURCE, "google");
    fx_set(l, LP_F_UTM_MEDIUM, "cpc");
    fx_set(l, LP_F_UTM_CAMPAIGN, "brand");
    lp_lead_set_long(l, LP_F_CONSENT, 1);
    lp_lead_set_long(l, LP_F_OPTED_OUT, 0);
    l->custom = fx_custom;
    l->ncustom = 2;
}

/* The fixture lead, scored, qualified and routed to a team. */
static inline void fx_routed(lp_record *r)
{
    lp_record_init(r);
    fx_lead(&r->lead);
    fx_set(&r->lead, LP_F_EMAIL_DOMAIN, "example.com");
    lp_lead_set_long(&r->lead, LP_F_SCORE_FIT, 55);
    lp_lead_set_long(&r->lead, LP_F_SCORE_ENGAGEMENT, 30);
    lp_lead_set_long(&r->lead, LP_F_SCORE_TOTAL, 85);
    fx_set(&r->lead, LP_F_GRADE, "A");
    r->reasons = fx_reasons;
    r->nreasons = 2;
    r->qualification = LP_QUAL_SQL;
    r->disposition = LP_DISP_SALES;
    r->owner = "emea-enterprise";
    r->owner_kind = "team";
    r->route_rule = "emea_big";
    r->enrich_status = LP_AUX_CACHED;
    static const char *const providers[] = {"apollo"};
    r->field_src[LP_F_INDUSTRY] = LP_SRC_CACHE;
    r->field_src[LP_F_TITLE] = LP_SRC_PROVIDER + 0;
    r->src_names = providers;
    r->llm_status = LP_AUX_SKIPPED;
    r->tasks = &fx_task;
    r->ntasks = 1;
    r->processed_at_ms = FX_PROCESSED_AT;
}

/* A row rejected by validation, read from line 17 of a CSV file. */
static inline void fx_rejected_file(lp_record *r, const char *raw, size_t rawlen)
{
    lp_record_init(r);
    fx_set(&r->lead, LP_F_LEAD_ID, "L-0002");
    r->raw = (lp_str){raw, (uint32_t)rawlen};
    r->origin = (lp_origin){"/data/in.csv", -1, 17};
    lp_record_reject(r, LP_STAGE_VALIDATE, LP_E_EMAIL_INVALID,
                     "field 'email': 'x@' is not a valid address");
    r->processed_at_ms = FX_PROCESSED_AT;
}

/* A Kafka message that did not decode; no lead id is known. */
static inline void fx_rejected_kafka(lp_record *r)
{
    lp_record_init(r);
    r->raw = (lp_str){"\x02\x41\x0e", 3};
    r->origin = (lp_origin){"leads.raw", 3, 123456789012LL};
    lp_record_reject(r, LP_STAGE_DECODE, LP_E_AVRO_DECODE, "bad union branch 7 in field 'source'");
    r->processed_at_ms = FX_PROCESSED_AT;
}

#endif
