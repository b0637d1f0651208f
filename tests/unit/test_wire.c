/*
 * Unit tests for wire.c and registry.c: leads as Kafka message values in
 * plain Avro and in the Confluent wire format, against a small Schema
 * Registry served by libmicrohttpd on 127.0.0.1 (ephemeral port) from
 * inside the test.
 *
 * Registry fixture: id 1 is lead.avsc itself (fast codec); id 2 reorders
 * the fields, adds one leadpipe does not know and narrows employee_count to
 * int (resolved path); id 3 lacks lead_id (unresolvable); id 4 has only
 * lead_id and email; id 5 answers 503 twice before succeeding; id 6
 * answers 500 forever; every other id is 404.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <avro.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "encode.h"
#include "lead_fixture.h"
#include "registry.h"
#include "wire.h"

/* Registry server state, shared with the server's thread. */
typedef struct fake_registry {
    struct MHD_Daemon *d;
    char url[64];
    char *lead_avsc;
    atomic_int hits[8]; /* GET /schemas/ids/{n} for n < 8 */
    atomic_int misses;  /* GETs of other ids */
    atomic_int fail5;   /* 503s left for id 5 */
    char post_path[256];
    char *post_body;
} fake_registry;

static fake_registry reg;

/* Writer schema of id 2: reordered, an extra field, an int employee count. */
static const char *schema_reordered =
    "{\"type\":\"record\",\"name\":\"Contact\",\"namespace\":\"com.example\",\"fields\":["
    "{\"name\":\"email\",\"type\":\"string\"},"
    "{\"name\":\"favourite_colour\",\"type\":\"string\"},"
    "{\"name\":\"employee_count\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"technologies\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"opted_out\",\"type\":[\"null\",\"boolean\"]},"
    "{\"name\":\"lead_id\",\"type\":\"string\"},"
    "{\"name\":\"custom\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}";

static const char *schema_no_id = "{\"type\":\"record\",\"name\":\"Lead\",\"fields\":["
                                  "{\"name\":\"email\",\"type\":\"string\"}]}";

static const char *schema_small =
    "{\"type\":\"record\",\"name\":\"Lead\",\"namespace\":\"io.leadpipe\",\"fields\":["
    "{\"name\":\"lead_id\",\"type\":\"string\"},"
    "{\"name\":\"email\",\"type\":[\"null\",\"string\"]}]}";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_schema(struct MHD_Connection *c, const char *schema)
{
    json_t *o = json_pack("{s:s}", "schema", schema);
    char *s = json_dumps(o, JSON_COMPACT);
    enum MHD_Result ret = reply(c, 200, s);
    free(s);
    json_decref(o);
    return ret;
}

static enum MHD_Result serve_get(struct MHD_Connection *c, const char *url)
{
    long id = strtol(url + strlen("/schemas/ids/"), NULL, 10);
    if (id >= 0 && id < 8)
        atomic_fetch_add(&reg.hits[id], 1);
    switch (id) {
    case 1:
        return reply_schema(c, reg.lead_avsc);
    case 2:
        return reply_schema(c, schema_reordered);
    case 3:
        return reply_schema(c, schema_no_id);
    case 4:
        return reply_schema(c, schema_small);
    case 5:
        if (atomic_fetch_sub(&reg.fail5, 1) > 0)
            return reply(c, 503, "{\"error_code\":50301,\"message\":\"warming up\"}");
        return reply_schema(c, schema_small);
    case 6:
        return reply(c, 500, "{\"error_code\":50001,\"message\":\"boom\"}");
    default:
        atomic_fetch_add(&reg.misses, 1);
        return reply(c, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
}

/* Accumulates a POST body across calls, then answers {"id": 1}. */
static enum MHD_Result serve_post(struct MHD_Connection *c, const char *url, const char *data,
                                  size_t *size, void **ctx)
{
    lp_buf *body = *ctx;
    if (!body) {
        body = calloc(1, sizeof(*body));
        *ctx = body;
        return MHD_YES;
    }
    if (*size) {
        lp_buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    snprintf(reg.post_path, sizeof(reg.post_path), "%s", url);
    free(reg.post_body);
    reg.post_body = strndup(body->data ? body->data : "", body->len);
    return reply(c, 200, "{\"id\":1}");
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **ctx)
{
    (void)cls;
    (void)version;
    if (!strcmp(method, "POST"))
        return serve_post(c, url, data, size, ctx);
    if (!strncmp(url, "/schemas/ids/", 13))
        return serve_get(c, url);
    return reply(c, 404, "{}");
}

static void request_done(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    lp_buf *body = *ctx;
    if (body) {
        lp_buf_free(body);
        free(body);
    }
}

static const char *source_dir(void)
{
    const char *d = getenv("LP_SOURCE_DIR");
    return d ? d : LP_SOURCE_DIR;
}

static char *lead_schema_path(void)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/schemas/lead.avsc", source_dir());
    return path;
}

static int registry_up(void **state)
{
    (void)state;
    json_t *j = json_load_file(lead_schema_path(), 0, NULL);
    assert_non_null(j);
    reg.lead_avsc = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    reg.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, NULL,
                             MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_NOTIFY_COMPLETED, request_done,
                             NULL, MHD_OPTION_END);
    if (!reg.d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(reg.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(reg.url, sizeof(reg.url), "http://127.0.0.1:%u", (unsigned)info->port);
    return 0;
}

static int registry_down(void **state)
{
    (void)state;
    MHD_stop_daemon(reg.d);
    free(reg.lead_avsc);
    free(reg.post_body);
    return 0;
}

/* Fast retries so that failure tests stay quick. */
static const lp_registry_opts fast_opts = {
    .connect_timeout_ms = 1000, .timeout_ms = 2000, .attempts = 3, .backoff_ms = 5};

static lp_wire *new_wire(lp_wire_format fmt)
{
    lp_wire *w = NULL;
    char err[256];
    lp_err_t rc = lp_wire_new(fmt, reg.url, &fast_opts, lead_schema_path(), &w, err, sizeof(err));
    if (rc != LP_OK)
        fail_msg("lp_wire_new: %s", err);
    return w;
}

/* The JSON of a lead's input fields: equal JSON, equal leads. */
static char *lead_json(const lp_lead *l)
{
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_encode_lead_json(l, &b), LP_OK);
    lp_buf_putc(&b, '\0');
    return b.data;
}

static void assert_same_lead(const lp_lead *a, const lp_lead *b)
{
    char *ja = lead_json(a), *jb = lead_json(b);
    assert_string_equal(ja, jb);
    free(ja);
    free(jb);
}

static void round_trip(lp_wire_format fmt, int32_t id, size_t header)
{
    lp_wire *w = new_wire(fmt);
    lp_lead in, out;
    fx_lead(&in);
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_wire_encode_lead(w, id, &in, &b), LP_OK);
    lp_buf plain;
    lp_buf_init(&plain);
    assert_int_equal(lp_codec_encode_lead(&in, &plain), LP_OK);
    assert_int_equal(b.len, plain.len + header);
    assert_memory_equal(b.data + header, plain.data, plain.len);
    lp_arena a;
    lp_arena_init(&a, 0);
    char why[256] = "";
    assert_int_equal(lp_wire_decode(w, b.data, b.len, &out, &a, why, sizeof(why)), LP_OK);
    assert_same_lead(&in, &out);
    /* the specialised codec is zero-copy: strings point into the message */
    const char *email = out.v[LP_F_EMAIL].s;
    assert_true(email > b.data && email < b.data + b.len);
    lp_arena_free(&a);
    lp_buf_free(&plain);
    lp_buf_free(&b);
    lp_wire_free(w);
}

static void test_plain_round_trip(void **state)
{
    (void)state;
    round_trip(LP_WIRE_AVRO, 0, 0);
}

static void test_confluent_round_trip_fast_path(void **state)
{
    (void)state;
    int before = atomic_load(&reg.hits[1]);
    round_trip(LP_WIRE_CONFLUENT, 1, LP_WIRE_CONFLUENT_HEADER);
    assert_int_equal(atomic_load(&reg.hits[1]) - before, 1);
}

static void test_confluent_header_bytes(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    lp_lead l;
    fx_lead(&l);
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_wire_encode_lead(w, 0x01020304, &l, &b), LP_OK);
    assert_memory_equal(b.data, "\x00\x01\x02\x03\x04", 5);
    lp_buf_free(&b);
    lp_wire_free(w);
}

/* Decodes (buf, len) with w and checks the code and the message. */
static void expect_fail(lp_wire *w, const char *buf, size_t len, lp_err_t code, const char *msg)
{
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead l;
    char why[512] = "";
    lp_err_t rc = lp_wire_decode(w, buf, len, &l, &a, why, sizeof(why));
    if (rc != code || !strstr(why, msg))
        fail_msg("got %s \"%s\", want %s containing \"%s\"", lp_err_name(rc), why,
                 lp_err_name(code), msg);
    lp_arena_free(&a);
}

static void test_garbage_and_truncation(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_AVRO);
    expect_fail(w, "{\"lead_id\": 1}", 14, LP_E_AVRO_DECODE, "");
    lp_lead l;
    fx_lead(&l);
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_wire_encode_lead(w, 0, &l, &b), LP_OK);
    for (size_t cut = 0; cut < b.len; cut++)
        expect_fail(w, b.data, cut, LP_E_AVRO_DECODE, "");
    lp_buf_append(&b, "xx", 2);
    expect_fail(w, b.data, b.len, LP_E_AVRO_DECODE, "trailing");
    lp_buf_free(&b);
    lp_wire_free(w);
}

static void test_plain_hints_at_confluent(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_AVRO);
    expect_fail(w, "\x00\x00\x00\x00\x01\x02", 6, LP_E_AVRO_DECODE, "is the format confluent?");
    lp_wire_free(w);
}

static void test_confluent_bad_framing(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    expect_fail(w, "{\"lead_id\":\"x\"}", 15, LP_E_AVRO_DECODE, "magic byte 0x7b, expected 0");
    expect_fail(w, "\x00\x00\x00", 3, LP_E_AVRO_DECODE,
                "message of 3 bytes is shorter than the 5-byte Confluent header");
    /* a known id with a truncated datum */
    expect_fail(w, "\x00\x00\x00\x00\x01\x0c", 6, LP_E_AVRO_DECODE, "lead_id");
    lp_wire_free(w);
}

static void test_unknown_id_is_cached_briefly(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    int before = atomic_load(&reg.misses);
    expect_fail(w, "\x00\x00\x00\x00\x2a\x02", 6, LP_E_SCHEMA_UNKNOWN,
                "schema id 42 unknown to registry http://127.0.0.1:");
    expect_fail(w, "\x00\x00\x00\x00\x2a\x02", 6, LP_E_SCHEMA_UNKNOWN, "schema id 42 unknown");
    assert_int_equal(atomic_load(&reg.misses) - before, 1);
    lp_wire_free(w);
}

static void test_unresolvable_writer(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    expect_fail(w, "\x00\x00\x00\x00\x03\x02\x41", 7, LP_E_SCHEMA_UNKNOWN,
                "schema id 3 has no field 'lead_id', which lead.avsc requires");
    lp_wire_free(w);
}

/* Writes the id-2 datum with avro-c's generic API, Confluent-framed. */
static size_t encode_reordered(char *out, size_t cap)
{
    avro_schema_t s;
    assert_int_equal(avro_schema_from_json_length(schema_reordered, strlen(schema_reordered), &s),
                     0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t rec, v, br, item;
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    avro_value_get_by_name(&rec, "email", &v, NULL);
    avro_value_set_string(&v, "ana@acme.io");
    avro_value_get_by_name(&rec, "favourite_colour", &v, NULL);
    avro_value_set_string(&v, "teal");
    avro_value_get_by_name(&rec, "employee_count", &v, NULL);
    avro_value_set_branch(&v, 1, &br);
    avro_value_set_int(&br, 250);
    avro_value_get_by_name(&rec, "technologies", &v, NULL);
    avro_value_append(&v, &item, NULL);
    avro_value_set_string(&item, "Snowflake");
    avro_value_append(&v, &item, NULL);
    avro_value_set_string(&item, "dbt");
    avro_value_get_by_name(&rec, "opted_out", &v, NULL);
    avro_value_set_branch(&v, 1, &br);
    avro_value_set_boolean(&br, 1);
    avro_value_get_by_name(&rec, "lead_id", &v, NULL);
    avro_value_set_string(&v, "L-77");
    avro_value_get_by_name(&rec, "custom", &v, NULL);
    avro_value_add(&v, "Lists", &item, NULL, NULL);
    avro_value_set_string(&item, "Q3 webinar");
    memcpy(out, "\x00\x00\x00\x00\x02", 5);
    avro_writer_t wr = avro_writer_memory(out + 5, (int64_t)cap - 5);
    assert_int_equal(avro_value_write(wr, &rec), 0);
    size_t len = 5 + (size_t)avro_writer_tell(wr);
    avro_writer_free(wr);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
    return len;
}

static void test_resolved_writer_schema(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    char buf[512];
    size_t len = encode_reordered(buf, sizeof(buf));
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead l;
    char why[256] = "";
    for (int round = 0; round < 2; round++) {
        assert_int_equal(lp_wire_decode(w, buf, len, &l, &a, why, sizeof(why)), LP_OK);
        char *j = lead_json(&l);
        assert_string_equal(j, "{\"lead_id\":\"L-77\",\"email\":\"ana@acme.io\","
                               "\"employee_count\":250,\"technologies\":[\"Snowflake\",\"dbt\"],"
                               "\"opted_out\":true,\"custom\":{\"Lists\":\"Q3 webinar\"}}");
        free(j);
    }
    assert_int_equal(atomic_load(&reg.hits[2]), 1);
    /* the generic path checks for trailing bytes too */
    buf[len] = 'x';
    expect_fail(w, buf, len + 1, LP_E_AVRO_DECODE, "trailing bytes");
    /* cut inside employee_count's varint: header 5, email 12, colour 5, branch 1 */
    expect_fail(w, buf, 24, LP_E_AVRO_DECODE, "schema id 2");
    lp_arena_free(&a);
    lp_wire_free(w);
}

static void test_writer_lacking_optional_fields(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    /* lead_id "L1", email union branch 1 "a@b.co" */
    const char msg[] = "\x00\x00\x00\x00\x04\x04L1\x02\x0c"
                       "a@b.co";
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead l;
    char why[256] = "";
    assert_int_equal(lp_wire_decode(w, msg, sizeof(msg) - 1, &l, &a, why, sizeof(why)), LP_OK);
    char *j = lead_json(&l);
    assert_string_equal(j, "{\"lead_id\":\"L1\",\"email\":\"a@b.co\"}");
    free(j);
    lp_arena_free(&a);
    lp_wire_free(w);
}

/* Worker threads share one codec and race on its first lookups. */
typedef struct decode_job {
    lp_wire *w;
    const char *fast, *resolved;
    size_t fast_len, resolved_len;
    int ok;
} decode_job;

static void *decode_worker(void *arg)
{
    decode_job *j = arg;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead l;
    char why[256];
    for (int i = 0; i < 500; i++) {
        int fast = i % 2;
        lp_err_t rc =
            lp_wire_decode(j->w, fast ? j->fast : j->resolved, fast ? j->fast_len : j->resolved_len,
                           &l, &a, why, sizeof(why));
        lp_str id = lp_lead_str(&l, LP_F_LEAD_ID);
        if (rc == LP_OK && id.len == (fast ? 6u : 4u))
            j->ok++;
        lp_arena_reset(&a);
    }
    lp_arena_free(&a);
    return NULL;
}

static void test_concurrent_decoders(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    char resolved[512];
    size_t resolved_len = encode_reordered(resolved, sizeof(resolved));
    lp_lead in;
    fx_lead(&in);
    lp_buf fast;
    lp_buf_init(&fast);
    assert_int_equal(lp_wire_encode_lead(w, 1, &in, &fast), LP_OK);
    decode_job jobs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (decode_job){w, fast.data, resolved, fast.len, resolved_len, 0};
        assert_int_equal(pthread_create(&th[t], NULL, decode_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].ok, 500);
    }
    lp_buf_free(&fast);
    lp_wire_free(w);
}

static void test_registry_retries_5xx(void **state)
{
    (void)state;
    atomic_store(&reg.fail5, 2);
    lp_registry *r;
    char err[512];
    const char *json;
    assert_int_equal(lp_registry_new(reg.url, &fast_opts, &r, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_registry_get_schema(r, 5, &json, err, sizeof(err)), LP_OK);
    assert_string_equal(json, schema_small);
    assert_int_equal(lp_registry_requests(r), 3);
    assert_int_equal(lp_registry_get_schema(r, 5, &json, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_registry_requests(r), 3); /* cached */
    lp_registry_free(r);
}

static void test_registry_errors_are_clear(void **state)
{
    (void)state;
    lp_registry *r;
    char err[512];
    const char *json;
    assert_int_equal(lp_registry_new(reg.url, &fast_opts, &r, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_registry_get_schema(r, 6, &json, err, sizeof(err)), LP_E_HTTP);
    assert_non_null(strstr(err, "/schemas/ids/6: HTTP 500: {\"error_code\":50001"));
    assert_int_equal(lp_registry_requests(r), 3);
    lp_registry_free(r);

    /* nothing listens on port 1 */
    assert_int_equal(
        lp_registry_new("http://joe:s3cret@127.0.0.1:1", &fast_opts, &r, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_registry_get_schema(r, 1, &json, err, sizeof(err)), LP_E_HTTP);
    assert_non_null(strstr(err, "GET http://127.0.0.1:1/schemas/ids/1"));
    assert_non_null(strstr(err, "after 3 attempts"));
    assert_null(strstr(err, "s3cret"));
    lp_registry_free(r);

    assert_int_equal(lp_registry_new("localhost:8081", NULL, &r, err, sizeof(err)), LP_E_CONFIG);
}

static void test_unreachable_registry_is_not_the_message_fault(void **state)
{
    (void)state;
    lp_wire *w = NULL;
    char err[256];
    assert_int_equal(lp_wire_new(LP_WIRE_CONFLUENT, "http://127.0.0.1:1", &fast_opts,
                                 lead_schema_path(), &w, err, sizeof(err)),
                     LP_OK);
    expect_fail(w, "\x00\x00\x00\x00\x01\x02", 6, LP_E_HTTP, "127.0.0.1:1");
    lp_wire_free(w);
    assert_int_equal(
        lp_wire_new(LP_WIRE_CONFLUENT, NULL, NULL, lead_schema_path(), &w, err, sizeof(err)),
        LP_E_CONFIG);
    assert_string_equal(err, "the confluent wire format needs a schema registry url");
}

static void test_register_lead(void **state)
{
    (void)state;
    lp_wire *w = new_wire(LP_WIRE_CONFLUENT);
    int32_t id = -1;
    char err[256];
    assert_int_equal(lp_wire_register_lead(w, "leads raw-value", &id, err, sizeof(err)), LP_OK);
    assert_int_equal(id, 1);
    assert_string_equal(reg.post_path, "/subjects/leads raw-value/versions");
    json_t *body = json_loads(reg.post_body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "schema")), reg.lead_avsc);
    json_decref(body);
    lp_wire_free(w);

    w = new_wire(LP_WIRE_AVRO);
    assert_int_equal(lp_wire_register_lead(w, "x-value", &id, err, sizeof(err)), LP_E_CONFIG);
    lp_wire_free(w);
}

static void test_format_names(void **state)
{
    (void)state;
    lp_wire_format f;
    assert_int_equal(lp_wire_format_parse("confluent", &f), LP_OK);
    assert_int_equal(f, LP_WIRE_CONFLUENT);
    assert_int_equal(lp_wire_format_parse("avro", &f), LP_OK);
    assert_int_equal(f, LP_WIRE_AVRO);
    assert_int_equal(lp_wire_format_parse("json", &f), LP_E_CONFIG);
    assert_string_equal(lp_wire_format_name(LP_WIRE_CONFLUENT), "confluent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_round_trip),
        cmocka_unit_test(test_confluent_round_trip_fast_path),
        cmocka_unit_test(test_confluent_header_bytes),
        cmocka_unit_test(test_garbage_and_truncation),
        cmocka_unit_test(test_plain_hints_at_confluent),
        cmocka_unit_test(test_confluent_bad_framing),
        cmocka_unit_test(test_unknown_id_is_cached_briefly),
        cmocka_unit_test(test_unresolvable_writer),
        cmocka_unit_test(test_resolved_writer_schema),
        cmocka_unit_test(test_writer_lacking_optional_fields),
        cmocka_unit_test(test_concurrent_decoders),
        cmocka_unit_test(test_registry_retries_5xx),
        cmocka_unit_test(test_registry_errors_are_clear),
        cmocka_unit_test(test_unreachable_registry_is_not_the_message_fault),
        cmocka_unit_test(test_register_lead),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, registry_up, registry_down);
}
