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

/* ---- the Avro encoders against a reference ------------------------------ */

/*
 * The reference: the outcome encoders as first written, one checked append
 * per value, every string measured with strlen and the provider label made
 * with snprintf. The encoders that reserve once and write through a cursor
 * must give these bytes for any record.
 */
static void ref_long(lp_buf *b, int64_t v)
{
    uint8_t t[LP_CODEC_VARINT_MAX];
    assert_int_equal(lp_buf_append(b, t, lp_codec_put_long(t, v)), 0);
}

static void ref_bytes(lp_buf *b, const char *s, size_t n)
{
    ref_long(b, (int64_t)n);
    if (n)
        assert_int_equal(lp_buf_append(b, s, n), 0);
}

static void ref_cstr(lp_buf *b, const char *s)
{
    s = s ? s : "";
    ref_bytes(b, s, strlen(s));
}

static void ref_opt_cstr(lp_buf *b, const char *s)
{
    ref_long(b, s != NULL);
    if (s)
        ref_cstr(b, s);
}

static void ref_opt_field(lp_buf *b, const lp_lead *l, lp_field_id f)
{
    ref_long(b, lp_lead_has(l, f));
    if (lp_lead_has(l, f))
        ref_bytes(b, l->v[f].s, l->v[f].len);
}

static const char *ref_known(const char *s, size_t *n)
{
    s = s ? s : "";
    if (!*n)
        *n = strlen(s);
    return s;
}

static void ref_reasons(lp_buf *b, const lp_record *r)
{
    if (r->nreasons)
        ref_long(b, r->nreasons);
    for (uint16_t i = 0; i < r->nreasons; i++) {
        const lp_reason *rs = &r->reasons[i];
        size_t n = rs->rule_len, g = rs->group_len;
        const char *rule = ref_known(rs->rule, &n);
        ref_bytes(b, rule, n);
        ref_long(b, rs->group != NULL);
        if (rs->group) {
            const char *group = ref_known(rs->group, &g);
            ref_bytes(b, group, g);
        }
        ref_long(b, rs->dimension == LP_DIM_ENGAGEMENT);
        ref_long(b, rs->points);
    }
    ref_long(b, 0);
}

static const char *ref_label(const lp_record *r, int f, char *buf, size_t len)
{
    uint8_t src = r->field_src[f];
    if (src == LP_SRC_INPUT || !lp_lead_has(&r->lead, (lp_field_id)f))
        return NULL;
    if (src == LP_SRC_CACHE)
        return "cache";
    snprintf(buf, len, "provider:%s", r->src_names ? r->src_names[src - LP_SRC_PROVIDER] : "?");
    return buf;
}

static void ref_provenance(lp_buf *b, const lp_record *r)
{
    char buf[160];
    int64_t n = 0;
    for (int f = 0; f < LP_F_COUNT; f++)
        n += ref_label(r, f, buf, sizeof(buf)) != NULL;
    if (n)
        ref_long(b, n);
    for (int f = 0; f < LP_F_COUNT; f++) {
        const char *label = ref_label(r, f, buf, sizeof(buf));
        if (label) {
            ref_cstr(b, lp_fields[f].name);
            ref_cstr(b, label);
        }
    }
    ref_long(b, 0);
}

static void ref_routed(const lp_record *r, const lp_run_info *ri, lp_buf *b)
{
    static const char *const kinds[] = {"owner", "team", "queue"};
    const lp_lead *l = &r->lead;
    assert_int_equal(lp_codec_encode_lead(l, b), LP_OK);
    ref_opt_field(b, l, LP_F_EMAIL_DOMAIN);
    for (lp_field_id f = LP_F_SCORE_FIT; f <= LP_F_SCORE_TOTAL; f++)
        ref_long(b, (int32_t)(lp_lead_has(l, f) ? l->v[f].i : 0));
    lp_str grade = lp_lead_str(l, LP_F_GRADE);
    ref_bytes(b, grade.ptr, grade.len);
    ref_reasons(b, r);
    lp_qualification q = r->qualification;
    ref_long(b, q >= LP_QUAL_SQL && q <= LP_QUAL_DISQUALIFIED ? (int64_t)q - 1 : 4);
    assert_int_equal(lp_buf_putc(b, r->gray_zone ? 1 : 0), 0);
    ref_long(b, (int64_t)r->disposition - 1);
    ref_long(b, r->duplicate_of.ptr != NULL);
    if (r->duplicate_of.ptr)
        ref_bytes(b, r->duplicate_of.ptr, r->duplicate_of.len);
    ref_long(b, r->owner != NULL);
    if (r->owner) {
        for (int i = 0; i < 3; i++)
            if (strcmp(r->owner_kind ? r->owner_kind : "owner", kinds[i]) == 0)
                ref_long(b, i);
        ref_cstr(b, r->owner);
    }
    ref_opt_cstr(b, r->route_rule);
    ref_opt_cstr(b, r->qualify_rule);
    ref_long(b, r->enrich_status <= LP_AUX_DEGRADED ? r->enrich_status : 0);
    ref_provenance(b, r);
    ref_long(b, r->llm_status <= LP_AUX_DEGRADED ? r->llm_status : 0);
    ref_opt_cstr(b, r->llm_note);
    ref_cstr(b, ri->pipeline_name);
    ref_cstr(b, ri->pipeline_version);
    ref_long(b, r->processed_at_ms);
}

static void ref_task(const lp_record *r, const lp_task *t, const lp_run_info *ri, lp_buf *b)
{
    static const lp_field_id personal[] = {LP_F_FIRST_NAME, LP_F_LAST_NAME, LP_F_COMPANY,
                                           LP_F_TITLE};
    const lp_lead *l = &r->lead;
    lp_str lid = lp_lead_str(l, LP_F_LEAD_ID);
    size_t seqlen = t->sequence_len, tpllen = t->template_len;
    const char *seq = ref_known(t->sequence, &seqlen), *tpl = ref_known(t->template_id, &tpllen);
    ref_bytes(b, lid.ptr, lid.len);
    ref_bytes(b, seq, seqlen);
    ref_long(b, t->step);
    ref_bytes(b, tpl, tpllen);
    ref_long(b, t->send_at_ms);
    ref_opt_cstr(b, r->owner);
    int64_t n = r->llm_first_line.ptr != NULL;
    for (int i = 0; i < 4; i++)
        n += lp_lead_has(l, personal[i]);
    if (n)
        ref_long(b, n);
    for (int i = 0; i < 4; i++) {
        if (!lp_lead_has(l, personal[i]))
            continue;
        ref_cstr(b, lp_fields[personal[i]].name);
        ref_bytes(b, l->v[personal[i]].s, l->v[personal[i]].len);
    }
    if (r->llm_first_line.ptr) {
        ref_cstr(b, "first_line");
        ref_bytes(b, r->llm_first_line.ptr, r->llm_first_line.len);
    }
    ref_long(b, 0);
    char key[512];
    int k = snprintf(key, sizeof(key), "%.*s:%.*s:%u", (int)lid.len, lid.ptr, (int)seqlen, seq,
                     (unsigned)t->step);
    assert_true(k > 0 && (size_t)k < sizeof(key));
    ref_bytes(b, key, (size_t)k);
    ref_cstr(b, ri->pipeline_version);
}

static void ref_opt_long(lp_buf *b, int present, int64_t v)
{
    ref_long(b, present);
    if (present)
        ref_long(b, v);
}

static void ref_rejected(const lp_record *r, const lp_run_info *ri, lp_buf *b)
{
    int file = r->origin.partition < 0;
    ref_bytes(b, r->raw.ptr, r->raw.len);
    ref_cstr(b, r->origin.name);
    ref_opt_long(b, !file, r->origin.partition);
    ref_opt_long(b, !file, r->origin.offset);
    ref_opt_long(b, file, r->origin.offset);
    ref_opt_field(b, &r->lead, LP_F_LEAD_ID);
    ref_cstr(b, lp_err_name(r->err));
    ref_cstr(b, r->err_msg ? r->err_msg : lp_err_str(r->err));
    ref_cstr(b, lp_stage_name(r->err_stage));
    ref_long(b, r->processed_at_ms);
    ref_cstr(b, ri->pipeline_version);
}

/* ---- random records ------------------------------------------------------ */

typedef struct rnd_gen {
    uint64_t s;
    char pool[1 << 18]; /* NUL-terminated strings handed out by rnd_text() */
    size_t used;
} rnd_gen;

static uint32_t rnd(rnd_gen *g, uint32_t n)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g->s >> 33) % n;
}

/* A number of every varint width, and the extremes. */
static int64_t rnd_long(rnd_gen *g)
{
    int k = (int)rnd(g, 65);
    if (k == 64)
        return rnd(g, 2) ? INT64_MIN : INT64_MAX;
    int64_t v = (int64_t)(((uint64_t)rnd(g, 1u << 31) << 32 | rnd(g, 1u << 31)) >> (63 - k));
    return rnd(g, 2) ? -v : v;
}

/* A NUL-terminated string: short as a rule or owner name, sometimes past the 63-byte boundary. */
static const char *rnd_text(rnd_gen *g, uint32_t *len)
{
    static const char chars[] = "abcXYZ09 -_:\"\\\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
    uint32_t n = rnd(g, 8) ? rnd(g, 24) : rnd(g, 8) ? 60 + rnd(g, 10) : rnd(g, 400);
    if (g->used + n + 1 > sizeof(g->pool))
        g->used = 0;
    char *s = g->pool + g->used;
    for (uint32_t i = 0; i < n; i++)
        s[i] = chars[rnd(g, sizeof(chars) - 1)];
    s[n] = '\0';
    g->used += n + 1;
    *len = n;
    return s;
}

static const char *rnd_opt_text(rnd_gen *g)
{
    uint32_t n;
    return rnd(g, 3) ? rnd_text(g, &n) : NULL;
}

static void rnd_lead(rnd_gen *g, lp_lead *l, lp_str *items, lp_kv *kv)
{
    uint32_t n;
    lp_lead_clear(l);
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (f != LP_F_LEAD_ID && !rnd(g, 3))
            continue;
        lp_val *v = &l->v[f];
        switch (lp_fields[f].type) {
        case LP_T_STR:
            v->s = rnd_text(g, &n);
            v->len = n;
            break;
        case LP_T_LONG:
        case LP_T_TS:
            v->i = rnd_long(g);
            break;
        case LP_T_DOUBLE:
            v->d = (double)rnd_long(g) / 3;
            break;
        case LP_T_BOOL:
            v->i = rnd(g, 2);
            break;
        case LP_T_LIST:
            v->len = rnd(g, 4) ? rnd(g, 6) : rnd(g, 100);
            for (uint32_t i = 0; i < v->len; i++)
                items[i].ptr = rnd_text(g, &items[i].len);
            v->list = items;
            break;
        }
        l->present |= 1ull << f;
    }
    l->ncustom = rnd(g, 3) ? rnd(g, 4) : rnd(g, 80);
    for (uint32_t i = 0; i < l->ncustom; i++) {
        kv[i].key.ptr = rnd_text(g, &kv[i].key.len);
        kv[i].val.ptr = rnd_text(g, &kv[i].val.len);
    }
    l->custom = kv;
}

/* Records of every shape the encoders take: the fields, reasons, tasks and sources. */
typedef struct rnd_record {
    lp_record r;
    lp_str items[100];
    lp_kv kv[80];
    lp_reason reasons[40];
    lp_task task;
    const char *providers[3];
    char long_provider[201];
} rnd_record;

static void rnd_routed(rnd_gen *g, rnd_record *x)
{
    static const char *const kinds[] = {NULL, "owner", "team", "queue"};
    lp_record *r = &x->r;
    uint32_t n;
    lp_record_init(r);
    rnd_lead(g, &r->lead, x->items, x->kv);
    r->nreasons = (uint16_t)(rnd(g, 4) ? rnd(g, 12) : rnd(g, 40));
    for (uint16_t i = 0; i < r->nreasons; i++) {
        lp_reason *rs = &x->reasons[i];
        rs->rule = rnd_text(g, &n);
        rs->rule_len = rnd(g, 2) ? n : 0; /* 0: not measured by the producer */
        rs->group = rnd_opt_text(g);
        rs->group_len = rs->group && rnd(g, 2) ? (uint32_t)strlen(rs->group) : 0;
        rs->points = (int32_t)rnd_long(g);
        rs->dimension = (uint8_t)rnd(g, 2);
    }
    r->reasons = x->reasons;
    r->qualification = (lp_qualification)rnd(g, 6);
    r->disposition = (lp_disposition)(1 + rnd(g, 4));
    r->gray_zone = rnd(g, 2);
    if (rnd(g, 4) == 0)
        r->duplicate_of.ptr = rnd_text(g, &r->duplicate_of.len);
    r->owner = rnd_opt_text(g);
    r->owner_kind = kinds[rnd(g, 4)];
    r->route_rule = rnd_opt_text(g);
    r->qualify_rule = rnd_opt_text(g);
    r->llm_note = rnd_opt_text(g);
    r->enrich_status = (uint8_t)rnd(g, 6);
    r->llm_status = (uint8_t)rnd(g, 6);
    memset(x->long_provider, 'p', 200);
    x->providers[0] = "apollo";
    x->providers[1] = x->long_provider; /* cut to fit the label, as snprintf cut it */
    x->providers[2] = "";
    r->src_names = rnd(g, 5) ? x->providers : NULL;
    for (int f = 0; f < LP_F_COUNT; f++)
        r->field_src[f] = (uint8_t)(rnd(g, 3) ? LP_SRC_INPUT : 1 + rnd(g, 4));
    r->processed_at_ms = rnd_long(g);
    if (rnd(g, 2))
        r->llm_first_line.ptr = rnd_text(g, &r->llm_first_line.len);
    x->task.sequence = rnd_text(g, &n);
    x->task.sequence_len = (uint16_t)(rnd(g, 2) ? n : 0);
    x->task.template_id = rnd_text(g, &n);
    x->task.template_len = (uint16_t)(rnd(g, 2) ? n : 0);
    x->task.step = (uint16_t)(rnd(g, 2) ? rnd(g, 10) : rnd(g, 65536));
    x->task.send_at_ms = rnd_long(g);
    r->tasks = &x->task;
    r->ntasks = 1;
}

static void rnd_rejected(rnd_gen *g, rnd_record *x)
{
    static const lp_err_t errs[] = {LP_E_INTERNAL, LP_E_AVRO_DECODE, LP_E_EMAIL_INVALID,
                                    LP_E_OPTED_OUT, (lp_err_t)999};
    lp_record *r = &x->r;
    uint32_t n;
    rnd_routed(g, x);
    r->raw.ptr = rnd_text(g, &r->raw.len);
    r->origin.name = rnd(g, 5) ? rnd_text(g, &n) : NULL;
    r->origin.partition = rnd(g, 2) ? -1 : (int32_t)rnd(g, 1000);
    r->origin.offset = rnd_long(g);
    lp_record_reject(r, (lp_stage_id)rnd(g, LP_STAGE_DONE + 3), errs[rnd(g, 5)],
                     rnd_opt_text(g));
}

static void assert_same_bytes(const char *what, int iter, const lp_buf *got, const lp_buf *want)
{
    if (got->len != want->len || memcmp(got->data, want->data, want->len) != 0)
        fail_msg("%s, record %d: %zu bytes, the reference %zu", what, iter, got->len, want->len);
}

static void avro_outcomes_match_the_reference_encoders(void **state)
{
    (void)state;
    static rnd_gen g;
    static rnd_record x;
    lp_run_info ri = FX_RUN;
    lp_buf got, want;
    uint32_t n;
    g.s = 42;
    lp_buf_init(&got);
    lp_buf_init(&want);
    for (int iter = 0; iter < 3000; iter++) {
        g.used = 0; /* each round's strings come from one pass over the pool */
        ri.pipeline_name = rnd_text(&g, &n);
        ri.pipeline_version = rnd_text(&g, &n);
        rnd_routed(&g, &x);
        /* append after earlier bytes, which the encoders must keep */
        lp_buf_reset(&got);
        lp_buf_reset(&want);
        lp_buf_puts(&got, "prefix");
        lp_buf_puts(&want, "prefix");
        assert_int_equal(lp_encode_routed_avro(&x.r, &ri, &got), LP_OK);
        ref_routed(&x.r, &ri, &want);
        assert_same_bytes("routed", iter, &got, &want);
        lp_buf_reset(&got);
        lp_buf_reset(&want);
        assert_int_equal(lp_encode_task_avro(&x.r, &x.task, &ri, &got), LP_OK);
        ref_task(&x.r, &x.task, &ri, &want);
        assert_same_bytes("task", iter, &got, &want);
        if (iter % 300 == 0)
            assert_avro_canonical("nurture_task.avsc", &got);
        rnd_rejected(&g, &x);
        lp_buf_reset(&got);
        lp_buf_reset(&want);
        assert_int_equal(lp_encode_rejected_avro(&x.r, &ri, &got), LP_OK);
        ref_rejected(&x.r, &ri, &want);
        assert_same_bytes("rejected", iter, &got, &want);
        if (iter % 300 == 0)
            assert_avro_canonical("rejected.avsc", &got);
    }
    lp_buf_free(&got);
    lp_buf_free(&want);
}

/* Every field, enriched alone, appears in the provenance map; labels are cut as before. */
static void provenance_names_each_enriched_field(void **state)
{
    (void)state;
    static const char *const providers[] = {
        "apollo", "a-provider-name-far-longer-than-a-label-may-be-"
                  "a-provider-name-far-longer-than-a-label-may-be-"
                  "a-provider-name-far-longer-than-a-label-may-be-"
                  "a-provider-name-far-longer-than-a-label-may-be"};
    lp_record r;
    lp_run_info ri = FX_RUN;
    lp_buf got, want;
    lp_buf_init(&got);
    lp_buf_init(&want);
    for (int f = 0; f < LP_F_COUNT; f++) {
        for (uint8_t src = LP_SRC_CACHE; src <= LP_SRC_PROVIDER + 1; src++) {
            fx_routed(&r);
            memset(r.field_src, 0, sizeof(r.field_src));
            r.field_src[f] = src;
            r.src_names = providers;
            lp_lead_set_long(&r.lead, (lp_field_id)f, 0); /* present, whatever its type */
            if (lp_fields[f].type == LP_T_STR || lp_fields[f].type == LP_T_LIST)
                lp_lead_set_str(&r.lead, (lp_field_id)f, "", 0);
            lp_buf_reset(&got);
            lp_buf_reset(&want);
            assert_int_equal(lp_encode_routed_avro(&r, &ri, &got), LP_OK);
            ref_routed(&r, &ri, &want);
            assert_same_bytes(lp_fields[f].name, src, &got, &want);
            assert_non_null(memmem(got.data, got.len, lp_fields[f].name, lp_fields[f].name_len));
            lp_buf_reset(&got);
            assert_int_equal(lp_encode_routed_json(&r, &ri, &got), LP_OK);
            char key[64];
            snprintf(key, sizeof(key), "\"provenance\":{\"%s\":\"%s", lp_fields[f].name,
                     src == LP_SRC_CACHE ? "cache\"}" : "provider:");
            assert_non_null(memmem(got.data, got.len, key, strlen(key)));
        }
    }
    /* the label of the long name is cut at 159 bytes, as snprintf into 160 cut it */
    lp_buf_reset(&got);
    assert_int_equal(lp_encode_routed_json(&r, &ri, &got), LP_OK);
    const char *label = memmem(got.data, got.len, "provider:a-provider", 19);
    assert_non_null(label);
    assert_int_equal(strchr(label, '"') - label, 159);
    lp_buf_free(&got);
    lp_buf_free(&want);
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
        cmocka_unit_test(avro_outcomes_match_the_reference_encoders),
        cmocka_unit_test(provenance_names_each_enriched_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
