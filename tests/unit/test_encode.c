/*
 * Unit tests for encode.c: exact JSON of known outcome records, escaping and
 * UTF-8 handling, number and timestamp formatting, and Avro output that
 * avro-c's generic codec reads and re-encodes to identical bytes.
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

#include "codec.h"
#include "encode.h"
#include "lead_fixture.h"

static const char routed_json[] =
    "{\"lead_id\":\"L-0001\",\"lead\":{\"lead_id\":\"L-0001\",\"source\":\"apollo\","
    "\"received_at\":\"2026-01-02T03:04:05.000Z\",\"email\":\"zoe.mueller@example.com\","
    "\"first_name\":\"Zoë\",\"last_name\":\"Müller-Łukasz\","
    "\"title\":\"VP \\\"Growth\\\" \\\\ Ops\\u000a\",\"seniority\":\"vp\","
    "\"department\":\"\",\"phone\":\"+49 30 1234567\","
    "\"linkedin_url\":\"https://www.linkedin.com/in/zoe\",\"company_name\":\"日本電気 GmbH\","
    "\"company_domain\":\"example.com\",\"website\":\"https://example.com\","
    "\"industry\":\"Software\",\"employee_count\":1200,\"annual_revenue\":4500000.25,"
    "\"country\":\"DE\",\"region\":\"Berlin\",\"technologies\":[\"Salesforce\",\"HubSpot\","
    "\"\",\"Snowflake ❄\"],\"page_views\":42,\"email_opens\":0,\"email_clicks\":-3,"
    "\"last_activity_at\":\"2025-12-28T07:20:00.000Z\",\"campaign\":\"Q1 😀 launch\","
    "\"utm_source\":\"google\",\"utm_medium\":\"cpc\",\"utm_campaign\":\"brand\","
    "\"consent_marketing\":true,\"opted_out\":false,"
    "\"custom\":{\"Apollo Contact Id\":\"abc123\",\"Lists\":\"A, B\"}},"
    "\"email_domain\":\"example.com\",\"score\":{\"fit\":55,\"engagement\":30,\"total\":85,"
    "\"grade\":\"A\"},\"reasons\":[{\"rule\":\"vp_title\",\"group\":\"title\","
    "\"dimension\":\"fit\",\"points\":20},{\"rule\":\"recent_visit\",\"group\":null,"
    "\"dimension\":\"engagement\",\"points\":12}],\"qualification\":\"SQL\","
    "\"gray_zone\":false,\"disposition\":\"sales\",\"duplicate_of\":null,"
    "\"owner\":{\"kind\":\"team\",\"name\":\"emea-enterprise\"},"
    "\"route_rule\":\"emea_big\",\"qualify_rule\":null,\"enrichment\":\"cached\","
    "\"provenance\":{\"title\":\"provider:apollo\",\"industry\":\"cache\"},"
    "\"llm\":\"skipped\",\"llm_note\":null,"
    "\"pipeline\":{\"name\":\"default\",\"version\":\"sha256:abc\"},"
    "\"processed_at\":\"2026-01-02T03:04:06.123Z\"}";

static const char task_json[] =
    "{\"lead_id\":\"L-0001\",\"sequence_id\":\"welcome\",\"step\":2,"
    "\"template_id\":\"tpl-1\",\"send_at\":\"2026-01-03T03:04:05.000Z\","
    "\"owner\":\"emea-enterprise\",\"personalization\":{\"first_name\":\"Zoë\","
    "\"last_name\":\"Müller-Łukasz\",\"company_name\":\"日本電気 GmbH\","
    "\"title\":\"VP \\\"Growth\\\" \\\\ Ops\\u000a\"},"
    "\"idempotency_key\":\"L-0001:welcome:2\",\"pipeline_version\":\"sha256:abc\"}";

static const char rejected_file_json[] =
    "{\"lead_id\":\"L-0002\",\"error_code\":\"LP_E_EMAIL_INVALID\","
    "\"error_message\":\"field 'email': 'x@' is not a valid address\","
    "\"stage\":\"validate\",\"origin\":{\"file\":\"/data/in.csv\",\"line\":17},"
    "\"original\":\"a,b,\\\"x@\\\"\",\"rejected_at\":\"2026-01-02T03:04:06.123Z\","
    "\"pipeline_version\":\"sha256:abc\"}";

static const char rejected_kafka_json[] =
    "{\"lead_id\":null,\"error_code\":\"LP_E_AVRO_DECODE\","
    "\"error_message\":\"bad union branch 7 in field 'source'\",\"stage\":\"decode\","
    "\"origin\":{\"topic\":\"leads.raw\",\"partition\":3,\"offset\":123456789012},"
    "\"original\":\"\\u0002A\\u000e\",\"rejected_at\":\"2026-01-02T03:04:06.123Z\","
    "\"pipeline_version\":\"sha256:abc\"}";

/* Asserts that buffer b holds exactly the string want. */
static void assert_buf_equal(const lp_buf *b, const char *want)
{
    size_t n = strlen(want);
    if (b->len != n || memcmp(b->data, want, n) != 0)
        fail_msg("got  %.*s\nwant %s", (int)b->len, b->data, want);
}

static void routed_json_is_exact_and_deterministic(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b, again;
    lp_buf_init(&b);
    lp_buf_init(&again);
    fx_routed(&r);
    assert_int_equal(lp_encode_routed_json(&r, &ri, &b), LP_OK);
    assert_buf_equal(&b, routed_json);
    assert_int_equal(lp_encode_routed_json(&r, &ri, &again), LP_OK);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    lp_buf_free(&b);
    lp_buf_free(&again);
}

static void routed_json_without_owner_or_scores(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = {"p", "v1"};
    lp_buf b;
    lp_buf_init(&b);
    lp_record_init(&r);
    fx_set(&r.lead, LP_F_LEAD_ID, "L-9");
    r.disposition = LP_DISP_DUPLICATE;
    r.duplicate_of = (lp_str){"L-1", 3};
    r.llm_status = LP_AUX_DEGRADED;
    r.llm_note = "daily budget exhausted";
    assert_int_equal(lp_encode_routed_json(&r, &ri, &b), LP_OK);
    assert_buf_equal(
        &b,
        "{\"lead_id\":\"L-9\",\"lead\":{\"lead_id\":\"L-9\"},\"email_domain\":null,"
        "\"score\":{\"fit\":0,\"engagement\":0,\"total\":0,\"grade\":\"\"},"
        "\"reasons\":[],\"qualification\":\"none\",\"gray_zone\":false,"
        "\"disposition\":\"duplicate\",\"duplicate_of\":\"L-1\",\"owner\":null,"
        "\"route_rule\":null,\"qualify_rule\":null,\"enrichment\":\"skipped\",\"provenance\":{},"
        "\"llm\":\"degraded\","
        "\"llm_note\":\"daily budget exhausted\","
        "\"pipeline\":{\"name\":\"p\",\"version\":\"v1\"},"
        "\"processed_at\":\"1970-01-01T00:00:00.000Z\"}");
    lp_buf_free(&b);
}

static void task_json_is_exact(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b;
    lp_buf_init(&b);
    fx_routed(&r);
    assert_int_equal(lp_encode_task_json(&r, &r.tasks[0], &ri, &b), LP_OK);
    assert_buf_equal(&b, task_json);
    lp_buf_free(&b);
}

static void rejected_json_is_exact_for_files_and_topics(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b;
    lp_buf_init(&b);
    fx_rejected_file(&r, "a,b,\"x@\"", 8);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_OK);
    assert_buf_equal(&b, rejected_file_json);
    lp_buf_reset(&b);
    fx_rejected_kafka(&r);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_OK);
    assert_buf_equal(&b, rejected_kafka_json);
    lp_buf_free(&b);
}

static void invalid_utf8_original_goes_to_base64(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = {"p", "v"};
    lp_buf b;
    lp_buf_init(&b);
    fx_rejected_file(&r, "ab\xff\xfe,c", 6);
    r.err_msg = NULL;
    lp_lead_clear(&r.lead);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_OK);
    assert_buf_equal(&b,
                     "{\"lead_id\":null,\"error_code\":\"LP_E_EMAIL_INVALID\","
                     "\"error_message\":\"email is not a valid address\","
                     "\"stage\":\"validate\",\"origin\":{\"file\":\"/data/in.csv\",\"line\":17},"
                     "\"original_base64\":\"YWL//ixj\","
                     "\"rejected_at\":\"2026-01-02T03:04:06.123Z\",\"pipeline_version\":\"v\"}");
    /* padding: 1 and 2 trailing bytes */
    lp_buf_reset(&b);
    r.raw = (lp_str){"\xc3", 1};
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_OK);
    assert_non_null(strstr(b.data, "\"original_base64\":\"ww==\""));
    lp_buf_reset(&b);
    r.raw = (lp_str){"\xc3\x28", 2};
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_OK);
    assert_non_null(strstr(b.data, "\"original_base64\":\"wyg=\""));
    lp_buf_free(&b);
}

static void json_strings_are_escaped(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_encode_json_string(&b, "a\"b\\c\n\t\x01\x1f\x7f/", 11), 0);
    assert_buf_equal(&b, "\"a\\\"b\\\\c\\u000a\\u0009\\u0001\\u001f\x7f/\"");
    /* valid UTF-8 passes through byte-exact, 2, 3 and 4 byte forms */
    lp_buf_reset(&b);
    assert_int_equal(lp_encode_json_string(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 0);
    assert_buf_equal(&b, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* invalid bytes, overlongs, surrogates and cut sequences become U+FFFD */
    lp_buf_reset(&b);
    assert_int_equal(lp_encode_json_string(&b, "x\xffy\xc0\xafz\xed\xa0\x80\xe2\x82", 11), 0);
    assert_buf_equal(&b, "\"x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz"
                         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* embedded NUL */
    lp_buf_reset(&b);
    assert_int_equal(lp_encode_json_string(&b, "a\0b", 3), 0);
    assert_buf_equal(&b, "\"a\\u0000b\"");
    lp_buf_free(&b);
    assert_true(lp_encode_utf8_valid("Zo\xc3\xab", 4));
    assert_false(lp_encode_utf8_valid("Zo\xc3", 3));
    assert_false(lp_encode_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void timestamps_are_iso8601_utc(void **state)
{
    (void)state;
    char t[LP_ENCODE_TS_MAX];
    assert_int_equal(lp_encode_ts_iso(0, t), 24);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    lp_encode_ts_iso(FX_RECEIVED_AT, t);
    assert_string_equal(t, "2026-01-02T03:04:05.000Z");
    lp_encode_ts_iso(-1, t);
    assert_string_equal(t, "1969-12-31T23:59:59.999Z");
    lp_encode_ts_iso(951782400000LL + 86399999, t);
    assert_string_equal(t, "2000-02-29T23:59:59.999Z");
    lp_encode_ts_iso(253402300799999LL, t);
    assert_string_equal(t, "9999-12-31T23:59:59.999Z");
}

/* The lead JSON of a lead holding only annual_revenue = x. */
static void assert_revenue_json(double x, const char *want)
{
    lp_lead l;
    lp_buf b;
    char full[128];
    lp_buf_init(&b);
    lp_lead_clear(&l);
    lp_lead_set_double(&l, LP_F_REVENUE, x);
    assert_int_equal(lp_encode_lead_json(&l, &b), LP_OK);
    snprintf(full, sizeof(full), "{\"annual_revenue\":%s}", want);
    assert_buf_equal(&b, full);
    lp_buf_free(&b);
}

static void doubles_use_the_shortest_exact_form(void **state)
{
    (void)state;
    assert_revenue_json(0.1, "0.1");
    assert_revenue_json(4500000.0, "4500000");
    assert_revenue_json(1.0 / 3.0, "0.3333333333333333");
    assert_revenue_json(0.1 + 0.2, "0.30000000000000004");
    assert_revenue_json(1e21, "1e+21");
    assert_revenue_json(-2.5e-7, "-2.5e-07");
    assert_revenue_json(NAN, "null");
    assert_revenue_json(INFINITY, "null");
    lp_lead l;
    lp_buf b;
    lp_buf_init(&b);
    lp_lead_clear(&l);
    assert_int_equal(lp_encode_lead_json(&l, &b), LP_OK);
    assert_buf_equal(&b, "{}");
    lp_buf_free(&b);
}

static void invalid_outcomes_are_refused_and_leave_the_buffer(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b;
    lp_buf_init(&b);
    lp_buf_puts(&b, "keep");
    fx_routed(&r);
    r.owner_kind = "squad";
    assert_int_equal(lp_encode_routed_json(&r, &ri, &b), LP_E_INTERNAL);
    assert_int_equal(lp_encode_routed_avro(&r, &ri, &b), LP_E_INTERNAL);
    fx_routed(&r);
    r.disposition = LP_DISP_NONE;
    assert_int_equal(lp_encode_routed_avro(&r, &ri, &b), LP_E_INTERNAL);
    fx_routed(&r);
    lp_record_reject(&r, LP_STAGE_VALIDATE, LP_E_PHONE_INVALID, NULL);
    assert_int_equal(lp_encode_routed_json(&r, &ri, &b), LP_E_INTERNAL);
    fx_routed(&r);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, &b), LP_E_INTERNAL);
    assert_int_equal(lp_encode_rejected_avro(&r, &ri, &b), LP_E_INTERNAL);
    assert_buf_equal(&b, "keep");
    lp_buf_free(&b);
}

/* Re-encodes b through avro-c's generic codec for a schema in schemas/. */
static void assert_avro_canonical(const char *schema, const lp_buf *b)
{
    char path[1024], err[256] = "";
    const char *dir = getenv("LP_SOURCE_DIR");
    lp_codec_generic *g = NULL;
    lp_buf gen;
    snprintf(path, sizeof(path), "%s/schemas/%s", dir ? dir : LP_SOURCE_DIR, schema);
    if (lp_codec_generic_new(path, &g, err, sizeof(err)))
        fail_msg("%s", err);
    lp_buf_init(&gen);
    assert_int_equal(lp_codec_generic_roundtrip(g, b->data, b->len, &gen), LP_OK);
    assert_int_equal(gen.len, b->len);
    assert_memory_equal(gen.data, b->data, b->len);
    lp_buf_free(&gen);
    lp_codec_generic_free(g);
}

static void avro_outcomes_match_their_schemas(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b;
    lp_buf_init(&b);
    fx_routed(&r);
    assert_int_equal(lp_encode_routed_avro(&r, &ri, &b), LP_OK);
    assert_avro_canonical("routed_lead.avsc", &b);
    /* the routed record starts with the lead, encoded by the codec */
    lp_buf lead;
    lp_buf_init(&lead);
    assert_int_equal(lp_codec_encode_lead(&r.lead, &lead), LP_OK);
    assert_memory_equal(b.data, lead.data, lead.len);
    lp_buf_free(&lead);
    lp_buf_reset(&b);
    assert_int_equal(lp_encode_task_avro(&r, &r.tasks[0], &ri, &b), LP_OK);
    assert_avro_canonical("nurture_task.avsc", &b);
    lp_buf_reset(&b);
    fx_rejected_file(&r, "ab\xff", 3);
    assert_int_equal(lp_encode_rejected_avro(&r, &ri, &b), LP_OK);
    assert_avro_canonical("rejected.avsc", &b);
    lp_buf_reset(&b);
    fx_rejected_kafka(&r);
    assert_int_equal(lp_encode_rejected_avro(&r, &ri, &b), LP_OK);
    assert_avro_canonical("rejected.avsc", &b);
    lp_buf_free(&b);
}

/* The LLM's first line joins the task's personalization map, in JSON and Avro. */
static void task_carries_the_llm_first_line(void **state)
{
    (void)state;
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf b;
    lp_buf_init(&b);
    fx_routed(&r);
    r.disposition = LP_DISP_NURTURE;
    r.llm_status = LP_AUX_USED;
    r.llm_first_line = LP_STR_LIT("Zo\xc3\xab, \"scaling\" Ops?");
    assert_int_equal(lp_encode_task_json(&r, &r.tasks[0], &ri, &b), LP_OK);
    assert_non_null(strstr(b.data, "\"title\":\"VP \\\"Growth\\\" \\\\ Ops\\u000a\","
                                   "\"first_line\":\"Zo\xc3\xab, \\\"scaling\\\" Ops?\"},"));
    lp_buf_reset(&b);
    assert_int_equal(lp_encode_task_avro(&r, &r.tasks[0], &ri, &b), LP_OK);
    assert_avro_canonical("nurture_task.avsc", &b);
    assert_non_null(memmem(b.data, b.len, "first_line", 10));
    /* a routed record with a note reads back through the schema too */
    lp_buf_reset(&b);
    r.llm_status = LP_AUX_DEGRADED;
    r.llm_note = "every provider is failing or cooling down";
    assert_int_equal(lp_encode_routed_avro(&r, &ri, &b), LP_OK);
    assert_avro_canonical("routed_lead.avsc", &b);
    assert_non_null(memmem(b.data, b.len, r.llm_note, strlen(r.llm_note)));
    lp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routed_json_is_exact_and_deterministic),
        cmocka_unit_test(routed_json_without_owner_or_scores),
        cmocka_unit_test(task_json_is_exact),
        cmocka_unit_test(rejected_json_is_exact_for_files_and_topics),
        cmocka_unit_test(invalid_utf8_original_goes_to_base64),
        cmocka_unit_test(json_strings_are_escaped),
        cmocka_unit_test(timestamps_are_iso8601_utc),
        cmocka_unit_test(doubles_use_the_shortest_exact_form),
        cmocka_unit_test(invalid_outcomes_are_refused_and_leave_the_buffer),
        cmocka_unit_test(avro_outcomes_match_their_schemas),
        cmocka_unit_test(task_carries_the_llm_first_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
