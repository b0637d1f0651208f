/* Unit tests for reader.c, csv.c (backend), jsonl.c and avrofile.c: real
 * export files in, one record per row out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <avro.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "reader.h"

#define NOW_MS 1700000000000LL
#define TS_0130 1705314600000LL /* 2024-01-15T10:30:00Z */
#define MAX_RECS 64

/* A whole file read into records; the reader stays open for the strings. */
struct readall {
    lp_reader *r;
    lp_arena arena;
    lp_record rec[MAX_RECS];
    size_t n;
    lp_err_t end; /* what next() returned after the last record */
};

static char *fixture(const char *name)
{
    static char path[1024];
    const char *dir = getenv("LP_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/data/%s", dir ? dir : LP_SOURCE_DIR, name);
    return path;
}

static void read_all(struct readall *ra, const char *path, const lp_reader_opts *o)
{
    char err[256] = "";
    lp_reader_opts def = {.now_ms = NOW_MS};
    memset(ra, 0, sizeof(*ra));
    lp_arena_init(&ra->arena, 0);
    lp_err_t rc = lp_reader_open(path, o ? o : &def, &ra->r, err, sizeof(err));
    if (rc != LP_OK)
        fail_msg("open %s: %s (%s)", path, lp_err_name(rc), err);
    while (ra->n < MAX_RECS &&
           (rc = lp_reader_next(ra->r, &ra->arena, &ra->rec[ra->n])) == LP_OK)
        ra->n++;
    ra->end = rc;
}

static void readall_free(struct readall *ra)
{
    lp_reader_close(ra->r);
    lp_arena_free(&ra->arena);
}

/* Asserts a string field's value; want NULL means absent. */
static void want_str(const lp_record *r, lp_field_id f, const char *want)
{
    if (!want) {
        if (lp_lead_has(&r->lead, f))
            fail_msg("line %lld: %s is present", (long long)r->origin.offset, lp_fields[f].name);
        return;
    }
    lp_str s = lp_lead_str(&r->lead, f);
    if (!lp_lead_has(&r->lead, f) || s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("line %lld: %s is \"%.*s\", expected \"%s\"", (long long)r->origin.offset,
                 lp_fields[f].name, (int)s.len, s.ptr, want);
}

static void want_long(const lp_record *r, lp_field_id f, int64_t want)
{
    assert_true(lp_lead_has(&r->lead, f));
    assert_int_equal(r->lead.v[f].i, want);
}

static void want_double(const lp_record *r, lp_field_id f, double want)
{
    assert_true(lp_lead_has(&r->lead, f));
    if (r->lead.v[f].d != want)
        fail_msg("%s is %f, expected %f", lp_fields[f].name, r->lead.v[f].d, want);
}

/* The custom attribute key, or NULL. */
static const lp_str *custom(const lp_record *r, const char *key)
{
    for (uint32_t i = 0; i < r->lead.ncustom; i++)
        if (r->lead.custom[i].key.len == strlen(key) &&
            memcmp(r->lead.custom[i].key.ptr, key, strlen(key)) == 0)
            return &r->lead.custom[i].val;
    return NULL;
}

static void want_custom(const lp_record *r, const char *key, const char *want)
{
    const lp_str *v = custom(r, key);
    if (!v || v->len != strlen(want) || memcmp(v->ptr, want, v->len) != 0)
        fail_msg("custom \"%s\" is \"%.*s\", expected \"%s\"", key, v ? (int)v->len : 0,
                 v ? v->ptr : "", want);
}

static void want_list(const lp_record *r, lp_field_id f, const char *const *items, uint32_t n)
{
    assert_true(lp_lead_has(&r->lead, f));
    assert_int_equal(r->lead.v[f].len, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(r->lead.v[f].list[i].len, strlen(items[i]));
        assert_memory_equal(r->lead.v[f].list[i].ptr, items[i], strlen(items[i]));
    }
}

static void want_ok(const lp_record *r, int64_t line)
{
    if (r->err != LP_OK)
        fail_msg("line %lld rejected: %s %s", (long long)r->origin.offset, lp_err_name(r->err),
                 r->err_msg);
    assert_int_equal(r->origin.offset, line);
    assert_int_equal(r->origin.partition, -1);
}

static void want_rejected(const lp_record *r, int64_t line, lp_err_t err, const char *msg)
{
    assert_int_equal(r->origin.offset, line);
    if (r->err != err)
        fail_msg("line %lld: %s, expected %s", (long long)line, lp_err_name(r->err),
                 lp_err_name(err));
    assert_int_equal(r->err_stage, LP_STAGE_READ);
    if (msg)
        assert_string_equal(r->err_msg, msg);
}

static void want_raw(const lp_record *r, const char *raw)
{
    assert_int_equal(r->raw.len, strlen(raw));
    assert_memory_equal(r->raw.ptr, raw, r->raw.len);
}

/* The id a row gets when it has none. */
static void want_generated_id(const lp_record *r)
{
    char id[32];
    uint64_t h = XXH3_64bits_withSeed(r->raw.ptr, r->raw.len, (uint64_t)r->origin.offset);
    snprintf(id, sizeof(id), "lp-%016llx", (unsigned long long)h);
    want_str(r, LP_F_LEAD_ID, id);
}

/* ------------------------------------------------------------------------
 * CSV
 */

static void messy_csv_good_rows(const struct readall *ra)
{
    const lp_record *r = &ra->rec[0];
    static const char *const tech[] = {"Python", "Salesforce", "HubSpot"};
    want_ok(r, 2);
    want_raw(r, "Ada,Lovelace,ada@example.com,\"Analytical Engines, Ltd\",Analytical,\"1,200\","
                "$4.5M,,'+44 20 7946 0000,United Kingdom,United Kingdom,"
                "\"Python; Salesforce, HubSpot\",simple,ap-1");
    want_str(r, LP_F_FIRST_NAME, "Ada");
    want_str(r, LP_F_COMPANY, "Analytical Engines, Ltd");
    want_long(r, LP_F_EMPLOYEES, 1200);
    want_double(r, LP_F_REVENUE, 4500000.0);
    want_str(r, LP_F_PHONE, "+44 20 7946 0000");
    want_str(r, LP_F_COUNTRY, "United Kingdom");
    want_list(r, LP_F_TECHNOLOGIES, tech, 3);
    want_str(r, LP_F_LEAD_ID, "ap-1");
    want_str(r, LP_F_SOURCE, "apollo");
    want_long(r, LP_F_RECEIVED_AT, NOW_MS);
    assert_int_equal(r->lead.ncustom, 3);
    want_custom(r, "Company Name for Emails", "Analytical");
    want_custom(r, "Company Country", "United Kingdom");
    want_custom(r, "Notes", "simple");

    r = &ra->rec[1];
    want_ok(r, 3);
    want_str(r, LP_F_COMPANY, "The \"Bug\" Hunters");
    want_long(r, LP_F_EMPLOYEES, 51);
    want_double(r, LP_F_REVENUE, 4500000.0);
    want_str(r, LP_F_PHONE, "+1 555 0100");
    want_custom(r, "Notes", "line one\r\nline two");
    assert_null(custom(r, "Company Name for Emails"));

    r = &ra->rec[2];
    want_ok(r, 5);
    want_str(r, LP_F_FIRST_NAME, "Alan");
    want_str(r, LP_F_LAST_NAME, "Turing");
    want_str(r, LP_F_EMAIL, "ALAN@Example.COM");
    want_long(r, LP_F_EMPLOYEES, 10001);
    want_double(r, LP_F_REVENUE, 1200000000.0);
    want_str(r, LP_F_PHONE, "+44 1908 640404");
}

static void messy_csv_scripts_and_defaults(const struct readall *ra)
{
    const lp_record *r = &ra->rec[5];
    want_ok(r, 9);
    want_str(r, LP_F_FIRST_NAME, "José");
    want_str(r, LP_F_LAST_NAME, "Müller");
    want_str(r, LP_F_COMPANY, "Straße GmbH");
    want_long(r, LP_F_EMPLOYEES, 500);
    want_double(r, LP_F_REVENUE, 500000.0);
    want_custom(r, "Notes", "Grüße, 你好, привет, مرحبا");

    r = &ra->rec[6];
    want_ok(r, 10);
    want_str(r, LP_F_FIRST_NAME, "王");
    want_str(r, LP_F_COMPANY, "北京科技");
    want_long(r, LP_F_EMPLOYEES, 2500);
    want_double(r, LP_F_REVENUE, 1000000.0);
    want_str(r, LP_F_COUNTRY, "中国");

    r = &ra->rec[11];
    want_ok(r, 15);
    want_str(r, LP_F_LAST_NAME, "The \"Rock\" Johnson");
    want_generated_id(r);

    r = &ra->rec[12];
    want_ok(r, 16);
    want_raw(r, "Plain,Row,plain@example.com,Plain Inc,,,12000000,,,,,,,ap-12");
    want_double(r, LP_F_REVENUE, 12000000.0);
    want_str(r, LP_F_LEAD_ID, "ap-12");
    assert_false(lp_lead_has(&r->lead, LP_F_EMPLOYEES));
    assert_int_equal(r->lead.ncustom, 0);
}

static void messy_csv_broken_rows(const struct readall *ra)
{
    want_rejected(&ra->rec[3], 7, LP_E_NUMBER_INVALID,
                  "column \"# Employees\": \"lots\" is not a number");
    want_rejected(&ra->rec[4], 8, LP_E_ROW_MALFORMED,
                  "column \"Last Name\": unterminated quoted field");
    want_raw(&ra->rec[4], "Eve,\"Unterminated,eve@example.com,Evil Corp,,10,,,,,,,,ap-5");
    want_rejected(&ra->rec[7], 11, LP_E_ENCODING,
                  "column \"Last Name\": \"Bytes\\xff\\xfe\" is not valid UTF-8");
    want_raw(&ra->rec[7], "Bad,Bytes\xff\xfe,bad@example.com,X,,1,,,,,,,,ap-8");
    want_rejected(&ra->rec[8], 12, LP_E_ROW_MALFORMED,
                  "column \"Last Name\": text after closing quote");
    want_rejected(&ra->rec[9], 13, LP_E_ROW_MALFORMED, "row has 16 fields, header has 14");
    want_rejected(&ra->rec[10], 14, LP_E_FIELD_TOO_LONG,
                  "column \"Notes\": value is 10240 bytes, limit is 8192");
    /* rejected rows keep their original bytes, and their id when they have one */
    assert_true(ra->rec[10].raw.len > 10240);
    want_str(&ra->rec[3], LP_F_LEAD_ID, "ap-4");
    want_generated_id(&ra->rec[4]);
}

static void messy_csv_every_row_is_accounted_for(void **state)
{
    (void)state;
    struct readall ra;
    read_all(&ra, fixture("messy.csv"), NULL);
    assert_int_equal(ra.end, LP_E_EOF);
    assert_int_equal(ra.n, 13); /* 13 non-blank rows after the header */
    assert_int_equal(lp_reader_format(ra.r), LP_FMT_CSV);
    messy_csv_good_rows(&ra);
    messy_csv_scripts_and_defaults(&ra);
    messy_csv_broken_rows(&ra);
    uint64_t done, total;
    lp_reader_progress(ra.r, &done, &total);
    assert_true(total > 10240);
    assert_int_equal(done, total);
    assert_int_equal(lp_reader_next(ra.r, &ra.arena, &ra.rec[0]), LP_E_EOF);
    readall_free(&ra);
}

static void limits_are_configurable(void **state)
{
    (void)state;
    struct readall ra;
    lp_reader_opts o = {.max_field_bytes = 16384, .max_row_bytes = 1024, .now_ms = NOW_MS};
    read_all(&ra, fixture("messy.csv"), &o);
    assert_int_equal(ra.n, 13);
    /* the 10 KB row is now over the row limit, not the field limit */
    want_rejected(&ra.rec[10], 14, LP_E_ROW_TOO_LONG, "row is longer than 1024 bytes");
    want_ok(&ra.rec[12], 16);
    readall_free(&ra);

    o.max_row_bytes = 0;
    read_all(&ra, fixture("messy.csv"), &o);
    want_ok(&ra.rec[10], 14);
    assert_int_equal(custom(&ra.rec[10], "Notes")->len, 10240);
    readall_free(&ra);
}

static void replays_give_the_same_ids(void **state)
{
    (void)state;
    struct readall a, b;
    read_all(&a, fixture("messy.csv"), NULL);
    read_all(&b, fixture("messy.csv"), NULL);
    lp_str ia = lp_lead_str(&a.rec[11].lead, LP_F_LEAD_ID);
    lp_str ib = lp_lead_str(&b.rec[11].lead, LP_F_LEAD_ID);
    assert_int_equal(ia.len, 19);
    assert_memory_equal(ia.ptr, ib.ptr, ia.len);
    readall_free(&a);
    readall_free(&b);
}

static void user_mapping_changes_the_winner(void **state)
{
    (void)state;
    struct readall ra;
    lp_fieldmap *m = lp_fieldmap_new();
    assert_int_equal(lp_fieldmap_add(m, "Company Name for Emails", LP_F_COMPANY), LP_OK);
    assert_int_equal(lp_fieldmap_add(m, "Notes", LP_F_CAMPAIGN), LP_OK);
    lp_reader_opts o = {.map = m, .now_ms = NOW_MS};
    read_all(&ra, fixture("messy.csv"), &o);
    want_str(&ra.rec[0], LP_F_COMPANY, "Analytical");
    want_custom(&ra.rec[0], "Company", "Analytical Engines, Ltd");
    want_str(&ra.rec[0], LP_F_CAMPAIGN, "simple");
    /* the user's column is empty on line 3: the built-in alias wins */
    want_str(&ra.rec[1], LP_F_COMPANY, "The \"Bug\" Hunters");
    readall_free(&ra);
    lp_fieldmap_free(m);
}

static void hubspot_export_reads_dates_and_flavour(void **state)
{
    (void)state;
    struct readall ra;
    read_all(&ra, fixture("hubspot.csv"), NULL);
    assert_int_equal(ra.n, 3);
    const lp_record *r = &ra.rec[0];
    want_ok(r, 2);
    want_str(r, LP_F_LEAD_ID, "101");
    want_str(r, LP_F_SOURCE, "hubspot");
    want_long(r, LP_F_RECEIVED_AT, TS_0130);
    want_long(r, LP_F_LAST_ACTIVITY, TS_0130);
    want_str(r, LP_F_TITLE, "VP Sales");
    want_str(r, LP_F_REGION, "California");
    want_str(r, LP_F_WEBSITE, "https://acme.io");
    want_str(r, LP_F_DOMAIN, NULL);
    want_long(r, LP_F_EMPLOYEES, 250);
    want_custom(r, "Lifecycle Stage", "lead");
    want_custom(r, "Contact owner", "Jo Owner");
    r = &ra.rec[1];
    want_ok(r, 3);
    want_long(r, LP_F_RECEIVED_AT, TS_0130);
    want_long(r, LP_F_LAST_ACTIVITY, TS_0130);
    want_long(r, LP_F_EMPLOYEES, 1001);
    want_double(r, LP_F_REVENUE, 25000000.0);
    want_rejected(&ra.rec[2], 4, LP_E_TIMESTAMP_INVALID,
                  "column \"Create Date\": \"15/01/2024\" is not a timestamp");
    readall_free(&ra);
}

static void salesforce_export_keeps_lead_source(void **state)
{
    (void)state;
    struct readall ra;
    read_all(&ra, fixture("salesforce.csv"), NULL);
    assert_int_equal(ra.n, 2);
    want_ok(&ra.rec[0], 2);
    want_str(&ra.rec[0], LP_F_SOURCE, "Web");
    want_str(&ra.rec[0], LP_F_PHONE, "+82 2 555 0100");
    want_long(&ra.rec[0], LP_F_EMPLOYEES, 51);
    want_double(&ra.rec[0], LP_F_REVENUE, 1500000.0);
    want_long(&ra.rec[0], LP_F_RECEIVED_AT, TS_0130 - (10 * 3600 + 30 * 60) * 1000LL);
    want_str(&ra.rec[0], LP_F_LEAD_ID, "00Q1");
    want_ok(&ra.rec[1], 3);
    want_str(&ra.rec[1], LP_F_SOURCE, "salesforce");
    want_double(&ra.rec[1], LP_F_REVENUE, 4500000.0);
    want_long(&ra.rec[1], LP_F_RECEIVED_AT, TS_0130);
    want_custom(&ra.rec[1], "Lead Owner", "Sam");
    readall_free(&ra);
}

/* Writes text to a fresh temporary file named with suffix. */
static char *temp_file(const char *suffix, const void *data, size_t len)
{
    static char path[2][64];
    static int which;
    char *p = path[which++ % 2];
    snprintf(p, sizeof(path[0]), "/tmp/lp_readerXXXXXX%s", suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return p;
}

static void stdin_and_content_detection(void **state)
{
    (void)state;
    struct readall ra;
    int saved = dup(STDIN_FILENO);
    int fd = open(fixture("hubspot.csv"), O_RDONLY);
    dup2(fd, STDIN_FILENO);
    close(fd);
    read_all(&ra, "-", NULL);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(ra.n, 3);
    assert_string_equal(ra.rec[0].origin.name, "-");
    readall_free(&ra);

    static const char json[] = "\n{\"email\":\"x@y.z\"}\n";
    char *p = temp_file(".txt", json, sizeof(json) - 1);
    read_all(&ra, p, NULL);
    assert_int_equal(lp_reader_format(ra.r), LP_FMT_JSONL);
    assert_int_equal(ra.n, 1);
    want_ok(&ra.rec[0], 2);
    readall_free(&ra);
    unlink(p);
}

static void open_errors_name_the_file(void **state)
{
    (void)state;
    char err[256];
    lp_reader *r = (lp_reader *)1;
    assert_int_equal(lp_reader_open("/nonexistent/leads.csv", NULL, &r, err, sizeof(err)),
                     LP_E_IO);
    assert_null(r);
    assert_non_null(strstr(err, "/nonexistent/leads.csv"));

    static const char bad[] = "a,\"b\nc,d\n";
    char *p = temp_file(".csv", bad, sizeof(bad) - 1);
    assert_int_equal(lp_reader_open(p, NULL, &r, err, sizeof(err)), LP_E_ROW_MALFORMED);
    assert_non_null(strstr(err, ":1: header row: unterminated quoted field"));
    unlink(p);

    p = temp_file(".csv", "", 0);
    assert_int_equal(lp_reader_open(p, NULL, &r, err, sizeof(err)), LP_OK);
    lp_arena a;
    lp_record rec;
    lp_arena_init(&a, 0);
    assert_int_equal(lp_reader_next(r, &a, &rec), LP_E_EOF);
    lp_reader_close(r);
    lp_arena_free(&a);
    unlink(p);
}

/* ------------------------------------------------------------------------
 * JSONL
 */

static void jsonl_maps_keys_and_converts_types(void **state)
{
    (void)state;
    struct readall ra;
    static const char *const go_rust[] = {"Go", "Rust"}, *const ab[] = {"A", "B"};
    read_all(&ra, fixture("leads.jsonl"), NULL);
    assert_int_equal(ra.end, LP_E_EOF);
    assert_int_equal(ra.n, 7);
    const lp_record *r = &ra.rec[0];
    want_ok(r, 1);
    want_str(r, LP_F_EMAIL, "ann@x.com");
    want_long(r, LP_F_EMPLOYEES, 250);
    want_double(r, LP_F_REVENUE, 2000000.0);
    want_list(r, LP_F_TECHNOLOGIES, go_rust, 2);
    want_long(r, LP_F_OPTED_OUT, 0);
    want_long(r, LP_F_RECEIVED_AT, TS_0130);
    want_long(r, LP_F_PAGE_VIEWS, 12);
    want_long(r, LP_F_EMAIL_OPENS, 1);
    want_str(r, LP_F_SOURCE, "jsonl");
    want_generated_id(r);
    assert_int_equal(r->lead.ncustom, 4);
    want_custom(r, "tier", "gold");
    want_custom(r, "score", "7");
    want_custom(r, "favourite_color", "blue");
    want_custom(r, "meta", "{\"a\":[1,2]}");

    r = &ra.rec[4];
    want_ok(r, 6);
    want_raw(r, "{\"Email\":\"dee@x.com\",\"Company Name\":\"D Corp\",\"# Employees\":\"51-200\","
                "\"lead_id\":\"L-6\",\"source\":\"webinar\",\"last_activity_at\":1705314600000,"
                "\"technologies\":\"A; B\",\"Company Country\":\"France\",\"country\":\"  \"}");
    want_str(r, LP_F_COMPANY, "D Corp");
    want_long(r, LP_F_EMPLOYEES, 51);
    want_str(r, LP_F_LEAD_ID, "L-6");
    want_str(r, LP_F_SOURCE, "webinar");
    want_long(r, LP_F_LAST_ACTIVITY, TS_0130);
    want_list(r, LP_F_TECHNOLOGIES, ab, 2);
    want_str(r, LP_F_COUNTRY, "France");
    assert_int_equal(r->lead.ncustom, 0);

    r = &ra.rec[6];
    want_ok(r, 8);
    want_str(r, LP_F_EMAIL, NULL);
    want_str(r, LP_F_FIRST_NAME, NULL);
    want_long(r, LP_F_CONSENT, 1);
    want_double(r, LP_F_REVENUE, 1500000.0);
    want_str(r, LP_F_PHONE, "4930123456");
    readall_free(&ra);
}

static void jsonl_rejects_bad_lines_one_by_one(void **state)
{
    (void)state;
    struct readall ra;
    read_all(&ra, fixture("leads.jsonl"), NULL);
    want_rejected(&ra.rec[1], 3, LP_E_NUMBER_INVALID,
                  "key \"employee_count\": \"lots\" is not a number");
    want_rejected(&ra.rec[2], 4, LP_E_JSON_INVALID, NULL);
    assert_non_null(strstr(ra.rec[2].err_msg, "invalid JSON at column"));
    want_raw(&ra.rec[2], "{\"email\": \"carl@x.com\",");
    want_rejected(&ra.rec[3], 5, LP_E_JSON_INVALID, "line is an array, not a JSON object");
    want_rejected(&ra.rec[5], 7, LP_E_FIELD_TYPE,
                  "key \"technologies\": expected list, got an integer");
    readall_free(&ra);

    static const char bad_utf8[] = "{\"email\":\"a\xff@x.com\"}\n";
    char *p = temp_file(".jsonl", bad_utf8, sizeof(bad_utf8) - 1);
    read_all(&ra, p, NULL);
    assert_int_equal(ra.n, 1);
    want_rejected(&ra.rec[0], 1, LP_E_ENCODING, NULL);
    readall_free(&ra);
    unlink(p);
}

/* ------------------------------------------------------------------------
 * Avro
 */

static const char lead_schema[] =
    "{\"type\":\"record\",\"name\":\"Lead\",\"fields\":["
    "{\"name\":\"lead_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"email\",\"type\":\"string\"},"
    "{\"name\":\"employee_count\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"annual_revenue\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"received_at\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"last_activity_at\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"technologies\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"opted_out\",\"type\":\"boolean\"},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"segment\",\"type\":\"string\"},"
    "{\"name\":\"rating\",\"type\":\"int\"}]}";

/* Sets union field name to branch 1 (not null) or 0 (null). */
static avro_value_t *avro_branch(avro_value_t *rec, const char *name, bool set, avro_value_t *b)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, set ? 1 : 0, b), 0);
    if (!set)
        avro_value_set_null(b);
    return b;
}

struct avro_lead {
    const char *lead_id, *email, *last_activity;
    int64_t employees, received;
    double revenue;
    const char *tech[2];
    bool opted_out;
    const char *tier, *segment;
    int rating;
};

static void avro_fill(avro_value_t *v, const struct avro_lead *l)
{
    avro_value_t f, b, e;
    avro_value_reset(v);
    if (l->lead_id)
        avro_value_set_string(avro_branch(v, "lead_id", true, &b), l->lead_id);
    else
        avro_branch(v, "lead_id", false, &b);
    avro_value_get_by_name(v, "email", &f, NULL);
    avro_value_set_string(&f, l->email);
    if (l->employees)
        avro_value_set_long(avro_branch(v, "employee_count", true, &b), l->employees);
    else
        avro_branch(v, "employee_count", false, &b);
    if (l->revenue)
        avro_value_set_double(avro_branch(v, "annual_revenue", true, &b), l->revenue);
    else
        avro_branch(v, "annual_revenue", false, &b);
    if (l->received)
        avro_value_set_long(avro_branch(v, "received_at", true, &b), l->received);
    else
        avro_branch(v, "received_at", false, &b);
    if (l->last_activity)
        avro_value_set_string(avro_branch(v, "last_activity_at", true, &b), l->last_activity);
    else
        avro_branch(v, "last_activity_at", false, &b);
    avro_value_get_by_name(v, "technologies", &f, NULL);
    for (int i = 0; i < 2 && l->tech[i]; i++) {
        avro_value_append(&f, &e, NULL);
        avro_value_set_string(&e, l->tech[i]);
    }
    avro_value_get_by_name(v, "opted_out", &f, NULL);
    avro_value_set_boolean(&f, l->opted_out);
    avro_value_get_by_name(v, "attrs", &f, NULL);
    if (l->tier) {
        avro_value_add(&f, "tier", &e, NULL, NULL);
        avro_value_set_string(&e, l->tier);
    }
    avro_value_get_by_name(v, "segment", &f, NULL);
    avro_value_set_string(&f, l->segment);
    avro_value_get_by_name(v, "rating", &f, NULL);
    avro_value_set_int(&f, l->rating);
}

/* Writes the leads to an OCF file; returns its path. */
static char *avro_write_file(const struct avro_lead *leads, size_t n, const char *suffix)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/lp_readerXXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_length(lead_schema, sizeof(lead_schema) - 1, &schema),
                     0);
    avro_file_writer_t w;
    assert_int_equal(avro_file_writer_create(path, schema, &w), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v;
    avro_generic_value_new(iface, &v);
    for (size_t i = 0; i < n; i++) {
        avro_fill(&v, &leads[i]);
        assert_int_equal(avro_file_writer_append_value(w, &v), 0);
    }
    avro_file_writer_close(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return path;
}

static const struct avro_lead avro_leads[] = {
    {"A-1", "a@x.com", NULL, 120, TS_0130, 3500000.0, {"Kafka", "Avro"}, false, "gold", "smb", 5},
    {NULL, "b@x.com", NULL, 0, 0, 0, {NULL, NULL}, true, NULL, "", 1},
    {"A-3", "c@x.com", "not a date", 5, 0, 0, {NULL, NULL}, false, NULL, "ent", 2},
};

/* The email field of a raw datum, decoded again. */
static void want_raw_email(const lp_record *r, const char *email)
{
    avro_schema_t schema;
    avro_schema_from_json_length(lead_schema, sizeof(lead_schema) - 1, &schema);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, f;
    avro_generic_value_new(iface, &v);
    avro_reader_t rd = avro_reader_memory(r->raw.ptr, r->raw.len);
    assert_int_equal(avro_value_read(rd, &v), 0);
    const char *s;
    size_t n;
    avro_value_get_by_name(&v, "email", &f, NULL);
    avro_value_get_string(&f, &s, &n);
    assert_string_equal(s, email);
    avro_reader_free(rd);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void avro_records_map_by_field_name(void **state)
{
    (void)state;
    struct readall ra;
    static const char *const tech[] = {"Kafka", "Avro"};
    char *path = avro_write_file(avro_leads, 3, ".avro");
    read_all(&ra, path, NULL);
    assert_int_equal(ra.end, LP_E_EOF);
    assert_int_equal(ra.n, 3);
    assert_int_equal(lp_reader_format(ra.r), LP_FMT_AVRO);
    const lp_record *r = &ra.rec[0];
    want_ok(r, 1);
    want_raw_email(r, "a@x.com");
    want_str(r, LP_F_LEAD_ID, "A-1");
    want_str(r, LP_F_EMAIL, "a@x.com");
    want_long(r, LP_F_EMPLOYEES, 120);
    want_double(r, LP_F_REVENUE, 3500000.0);
    want_long(r, LP_F_RECEIVED_AT, TS_0130);
    want_list(r, LP_F_TECHNOLOGIES, tech, 2);
    want_long(r, LP_F_OPTED_OUT, 0);
    want_str(r, LP_F_SOURCE, "avro");
    assert_int_equal(r->lead.ncustom, 3);
    want_custom(r, "tier", "gold");
    want_custom(r, "segment", "smb");
    want_custom(r, "rating", "5");

    r = &ra.rec[1];
    want_ok(r, 2);
    want_raw_email(r, "b@x.com");
    want_generated_id(r);
    want_long(r, LP_F_RECEIVED_AT, NOW_MS);
    assert_false(lp_lead_has(&r->lead, LP_F_EMPLOYEES));
    assert_false(lp_lead_has(&r->lead, LP_F_TECHNOLOGIES));
    want_long(r, LP_F_OPTED_OUT, 1);
    assert_null(custom(r, "segment"));

    want_rejected(&ra.rec[2], 3, LP_E_TIMESTAMP_INVALID,
                  "field \"last_activity_at\": \"not a date\" is not a timestamp");
    want_raw_email(&ra.rec[2], "c@x.com");
    uint64_t done, total;
    lp_reader_progress(ra.r, &done, &total);
    assert_int_equal(done, total);
    readall_free(&ra);
    unlink(path);
}

static void avro_detected_by_content_and_truncation_is_fatal(void **state)
{
    (void)state;
    struct readall ra;
    char *path = avro_write_file(avro_leads, 3, ".bin");
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    unlink(path);

    /* a header and no blocks: no records */
    char *empty = avro_write_file(avro_leads, 0, ".avro");
    read_all(&ra, empty, NULL);
    assert_int_equal(ra.n, 0);
    assert_int_equal(ra.end, LP_E_EOF);
    readall_free(&ra);
    unlink(empty);

    path = temp_file(".bin", buf, n);
    read_all(&ra, path, NULL);
    assert_int_equal(lp_reader_format(ra.r), LP_FMT_AVRO);
    assert_int_equal(ra.n, 3);
    readall_free(&ra);
    unlink(path);

    path = temp_file(".avro", buf, n - 20); /* cut into the only block */
    read_all(&ra, path, NULL);
    assert_int_equal(ra.n, 0);
    assert_int_equal(ra.end, LP_E_AVRO_DECODE);
    assert_non_null(strstr(lp_reader_error(ra.r), "corrupt"));
    readall_free(&ra);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messy_csv_every_row_is_accounted_for),
        cmocka_unit_test(limits_are_configurable),
        cmocka_unit_test(replays_give_the_same_ids),
        cmocka_unit_test(user_mapping_changes_the_winner),
        cmocka_unit_test(hubspot_export_reads_dates_and_flavour),
        cmocka_unit_test(salesforce_export_keeps_lead_source),
        cmocka_unit_test(stdin_and_content_detection),
        cmocka_unit_test(open_errors_name_the_file),
        cmocka_unit_test(jsonl_maps_keys_and_converts_types),
        cmocka_unit_test(jsonl_rejects_bad_lines_one_by_one),
        cmocka_unit_test(avro_records_map_by_field_name),
        cmocka_unit_test(avro_detected_by_content_and_truncation_is_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
