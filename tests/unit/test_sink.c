/*
 * Unit tests for sink.c: JSONL output, I/O errors that must not pass
 * silently, and Avro container files that an independent implementation
 * (python3-avro, through tests/tools/avro_check.py) reads back value for
 * value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "encode.h"
#include "lead_fixture.h"
#include "sink.h"

static const char *source_dir(void)
{
    const char *d = getenv("LP_SOURCE_DIR");
    return d ? d : LP_SOURCE_DIR;
}

/* A fresh temporary directory; path has room for 256 bytes. */
static void make_tmpdir(char *path)
{
    const char *t = getenv("TMPDIR");
    snprintf(path, 256, "%s/lp-sink-XXXXXX", t ? t : "/tmp");
    assert_non_null(mkdtemp(path));
}

static void remove_tmpdir(const char *dir)
{
    static const char *const names[] = {"out.jsonl",     "lead.avro",     "lead.jsonl",
                                        "routed.avro",   "routed.jsonl",  "nurture.avro",
                                        "nurture.jsonl", "rejected.avro", "rejected.jsonl"};
    char p[512];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void jsonl_writes_one_line_per_record(void **state)
{
    (void)state;
    char dir[256], path[512], err[256] = "", got[64] = "";
    lp_sink *s = NULL;
    make_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/out.jsonl", dir);
    assert_int_equal(lp_sink_open(path, LP_SINK_JSONL, NULL, &s, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_sink_write(s, "{\"a\":1}", 7), LP_OK);
    assert_int_equal(lp_sink_write(s, "{}", 2), LP_OK);
    assert_int_equal(lp_sink_count(s), 2);
    assert_string_equal(lp_sink_error(s), "");
    assert_int_equal(lp_sink_close(s, err, sizeof(err)), LP_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    assert_int_equal(n, 11);
    assert_string_equal(got, "{\"a\":1}\n{}\n");
    remove_tmpdir(dir);
}

static void full_disk_is_reported_at_close(void **state)
{
    (void)state;
    char err[256] = "", rec[4096];
    lp_sink *s = NULL;
    if (access("/dev/full", W_OK) != 0)
        skip();
    memset(rec, 'x', sizeof(rec));
    assert_int_equal(lp_sink_open("/dev/full", LP_SINK_JSONL, NULL, &s, err, sizeof(err)), LP_OK);
    lp_err_t rc = LP_OK;
    for (int i = 0; i < 200 && rc == LP_OK; i++)
        rc = lp_sink_write(s, rec, sizeof(rec));
    assert_int_equal(lp_sink_close(s, err, sizeof(err)), LP_E_IO);
    assert_non_null(strstr(err, "/dev/full"));
    assert_non_null(strstr(err, "No space left on device"));
}

static void avro_full_disk_is_reported_at_close(void **state)
{
    (void)state;
    char schema[512], err[256] = "";
    lp_sink *s = NULL;
    lp_lead l;
    lp_buf b;
    if (access("/dev/full", W_OK) != 0)
        skip();
    snprintf(schema, sizeof(schema), "%s/schemas/lead.avsc", source_dir());
    assert_int_equal(lp_sink_open("/dev/full", LP_SINK_AVRO, schema, &s, err, sizeof(err)), LP_OK);
    lp_buf_init(&b);
    fx_lead(&l);
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    assert_int_equal(lp_sink_write(s, b.data, b.len), LP_OK);
    assert_int_equal(lp_sink_close(s, err, sizeof(err)), LP_E_IO);
    assert_non_null(strstr(err, "/dev/full"));
    lp_buf_free(&b);
}

static void open_errors_name_the_file(void **state)
{
    (void)state;
    char dir[256], path[512], err[256] = "";
    lp_sink *s = NULL;
    assert_int_equal(
        lp_sink_open("/nonexistent-dir/x.jsonl", LP_SINK_JSONL, NULL, &s, err, sizeof(err)),
        LP_E_IO);
    assert_string_equal(err, "/nonexistent-dir/x.jsonl: No such file or directory");
    assert_null(s);
    make_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/lead.avro", dir);
    assert_int_equal(
        lp_sink_open(path, LP_SINK_AVRO, "/nonexistent/lead.avsc", &s, err, sizeof(err)), LP_E_IO);
    assert_non_null(strstr(err, "/nonexistent/lead.avsc"));
    assert_null(s);
    assert_int_equal(lp_sink_close(NULL, NULL, 0), LP_OK);
    remove_tmpdir(dir);
}

/* A pair of sinks, .avro and .jsonl, for one outcome kind. */
typedef struct sink_pair {
    lp_sink *avro;
    lp_sink *json;
} sink_pair;

static void pair_open(sink_pair *p, const char *dir, const char *name, const char *schema,
                      lp_sink_format fmt)
{
    char path[512], sch[512], err[256] = "";
    snprintf(sch, sizeof(sch), "%s/schemas/%s", source_dir(), schema);
    snprintf(path, sizeof(path), "%s/%s.avro", dir, name);
    if (lp_sink_open(path, fmt, sch, &p->avro, err, sizeof(err)))
        fail_msg("%s", err);
    snprintf(path, sizeof(path), "%s/%s.jsonl", dir, name);
    assert_int_equal(lp_sink_open(path, LP_SINK_JSONL, NULL, &p->json, err, sizeof(err)), LP_OK);
}

static void pair_close(sink_pair *p, uint64_t want)
{
    char err[256] = "";
    assert_int_equal(lp_sink_count(p->avro), want);
    assert_int_equal(lp_sink_count(p->json), want);
    if (lp_sink_close(p->avro, err, sizeof(err)) || lp_sink_close(p->json, err, sizeof(err)))
        fail_msg("%s", err);
}

/* Writes the Avro (b) and JSON (j) encodings of one record, then resets. */
static void pair_write(sink_pair *p, lp_buf *b, lp_buf *j)
{
    assert_int_equal(lp_sink_write(p->avro, b->data, b->len), LP_OK);
    assert_int_equal(lp_sink_write(p->json, j->data, j->len), LP_OK);
    lp_buf_reset(b);
    lp_buf_reset(j);
}

static void write_leads(const char *dir, lp_buf *b, lp_buf *j)
{
    sink_pair p;
    lp_lead l;
    pair_open(&p, dir, "lead", "lead.avsc", LP_SINK_AVRO_DEFLATE);
    fx_lead(&l);
    assert_int_equal(lp_codec_encode_lead(&l, b), LP_OK);
    assert_int_equal(lp_encode_lead_json(&l, j), LP_OK);
    pair_write(&p, b, j);
    lp_lead_clear(&l);
    fx_set(&l, LP_F_LEAD_ID, "L-min");
    assert_int_equal(lp_codec_encode_lead(&l, b), LP_OK);
    assert_int_equal(lp_encode_lead_json(&l, j), LP_OK);
    pair_write(&p, b, j);
    pair_close(&p, 2);
}

static void write_routed_and_tasks(const char *dir, lp_buf *b, lp_buf *j)
{
    sink_pair p, t;
    lp_record r;
    lp_run_info ri = FX_RUN;
    pair_open(&p, dir, "routed", "routed_lead.avsc", LP_SINK_AVRO);
    pair_open(&t, dir, "nurture", "nurture_task.avsc", LP_SINK_AVRO);
    fx_routed(&r);
    assert_int_equal(lp_encode_routed_avro(&r, &ri, b), LP_OK);
    assert_int_equal(lp_encode_routed_json(&r, &ri, j), LP_OK);
    pair_write(&p, b, j);
    assert_int_equal(lp_encode_task_avro(&r, &r.tasks[0], &ri, b), LP_OK);
    assert_int_equal(lp_encode_task_json(&r, &r.tasks[0], &ri, j), LP_OK);
    pair_write(&t, b, j);
    lp_record_init(&r);
    fx_set(&r.lead, LP_F_LEAD_ID, "L-9");
    r.disposition = LP_DISP_DUPLICATE;
    r.duplicate_of = (lp_str){"L-1", 3};
    r.llm_status = LP_AUX_DEGRADED;
    assert_int_equal(lp_encode_routed_avro(&r, &ri, b), LP_OK);
    assert_int_equal(lp_encode_routed_json(&r, &ri, j), LP_OK);
    pair_write(&p, b, j);
    pair_close(&p, 2);
    pair_close(&t, 1);
}

static void write_rejected(const char *dir, lp_buf *b, lp_buf *j)
{
    sink_pair p;
    lp_record r;
    lp_run_info ri = FX_RUN;
    pair_open(&p, dir, "rejected", "rejected.avsc", LP_SINK_AVRO);
    fx_rejected_file(&r, "ab\xff,c", 5);
    assert_int_equal(lp_encode_rejected_avro(&r, &ri, b), LP_OK);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, j), LP_OK);
    pair_write(&p, b, j);
    fx_rejected_kafka(&r);
    assert_int_equal(lp_encode_rejected_avro(&r, &ri, b), LP_OK);
    assert_int_equal(lp_encode_rejected_json(&r, &ri, j), LP_OK);
    pair_write(&p, b, j);
    pair_close(&p, 2);
}

static void python_avro_reads_our_container_files(void **state)
{
    (void)state;
    char dir[256], cmd[1024];
    lp_buf b, j;
    lp_buf_init(&b);
    lp_buf_init(&j);
    make_tmpdir(dir);
    write_leads(dir, &b, &j);
    write_routed_and_tasks(dir, &b, &j);
    write_rejected(dir, &b, &j);
    snprintf(cmd, sizeof(cmd), "python3 '%s/tests/tools/avro_check.py' '%s'", source_dir(), dir);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("%s: exit status %d; files kept in %s", cmd, rc, dir);
    remove_tmpdir(dir);
    lp_buf_free(&b);
    lp_buf_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jsonl_writes_one_line_per_record),
        cmocka_unit_test(full_disk_is_reported_at_close),
        cmocka_unit_test(avro_full_disk_is_reported_at_close),
        cmocka_unit_test(open_errors_name_the_file),
        cmocka_unit_test(python_avro_reads_our_container_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
