/*
 * cmd_import.c - `leadpipe import`: lead files (CSV, JSONL, Avro) to Avro
 * records on a Kafka topic, keyed by lead id.
 *
 * Rows are read with the same readers and column mappings as `leadpipe
 * batch` (the pipeline's `input:` section when -c is given). Every row ends
 * one of three ways, and the summary accounts for all of them:
 *   - produced, then delivered (acknowledged by every in-sync replica);
 *   - produced, then failed delivery (counted; the exit status is 1);
 *   - rejected by the reader, written to the rejects file with its reason.
 *
 * The producer is idempotent (enable.idempotence, acks=all), so retries
 * inside librdkafka neither duplicate nor reorder records; linger.ms=5 and
 * lz4 batch them. The command waits for every delivery report before it
 * exits. SIGINT stops reading and still waits for what was produced; a
 * second SIGINT purges the queue and exits 1.
 *
 * Threads: the main thread reads, encodes and produces; delivery reports
 * are served by rd_kafka_poll() on the main thread too, so the counters need
 * no locks. The only state shared with a signal handler is a sig_atomic_t.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "encode.h"
#include "fieldmap.h"
#include "pipeline.h"
#include "progress.h"
#include "reader.h"
#include "wire.h"

#define IMPORT_DEFAULT_REJECTS "import-rejected.jsonl"
#define IMPORT_CONNECT_TIMEOUT_MS 10000 /* fail fast on a wrong --brokers */

typedef struct import_opts {
    const char *brokers, *topic, *config, *registry, *rejects;
    lp_wire_format format;
    lp_format in_format;
    const char **inputs;
    int ninputs;
    char **props; /* -X arguments, "name=value" */
    int nprops;
    bool quiet, force_progress;
} import_opts;

typedef struct import_stats {
    uint64_t rows, produced, delivered, failed, rejected;
    char first_failure[256];
} import_stats;

/* What one run holds open. */
typedef struct import_run {
    const import_opts *o;
    rd_kafka_t *rk;
    lp_wire *wire;
    int32_t schema_id;
    lp_pipeline *pl;
    lp_fieldmap *map;
    FILE *rejects;
    lp_run_info info;
    lp_buf buf;
    lp_arena arena;
    import_stats st;
} import_run;

static volatile sig_atomic_t import_interrupted;

static void import_on_sigint(int sig)
{
    (void)sig;
    import_interrupted++;
}

static void import_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe import --brokers LIST --topic T [options] FILE...\n"
            "\n"
            "Turns CSV, JSONL or Avro lead exports into Avro records on a Kafka topic,\n"
            "keyed by lead id, through an idempotent producer (acks=all, lz4). Rows the\n"
            "reader rejects go to the rejects file with their reason; nothing is dropped.\n"
            "\n"
            "  -b, --brokers LIST         bootstrap servers, host:port[,host:port]\n"
            "  -t, --topic T              topic to produce to (default with -c: the\n"
            "                             pipeline's input topic)\n"
            "  -c, --config FILE          pipeline whose input settings and column\n"
            "                             mappings apply (see pipelines/default.yaml)\n"
            "      --format FMT           avro (plain Avro datum, default) or confluent\n"
            "                             (magic byte, schema id, datum)\n"
            "      --schema-registry URL  registry for --format confluent; lead.avsc is\n"
            "                             registered under the subject T-value\n"
            "      --rejects FILE         rejected rows, JSON lines (default %s;\n"
            "                             removed when no row is rejected)\n"
            "      --input-format F       force the input format: csv, jsonl or avro\n"
            "  -X, --property NAME=VALUE  librdkafka producer property (repeatable), e.g.\n"
            "                             -X security.protocol=SASL_SSL\n"
            "      --progress             draw the progress bar even when stderr is not\n"
            "                             a terminal\n"
            "  -q, --quiet                no progress bar and no summary\n"
            "  -h, --help                 show this help\n"
            "\n"
            "Exit status: 0 when every row was delivered or rejected, 1 when a delivery\n"
            "failed or an input cannot be read, 2 on a usage or configuration error.\n",
            IMPORT_DEFAULT_REJECTS);
}

static bool import_parse_input_format(const char *s, lp_format *f)
{
    static const struct {
        const char *name;
        lp_format fmt;
    } names[] = {
        {"csv", LP_FMT_CSV},
        {"jsonl", LP_FMT_JSONL},
        {"avro", LP_FMT_AVRO},
        {"auto", LP_FMT_AUTO},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i].name)) {
            *f = names[i].fmt;
            return true;
        }
    return false;
}

/* Handles one option; returns -1 to go on, else the exit status. */
static int import_option(int c, import_opts *o)
{
    switch (c) {
    case 'b':
        o->brokers = optarg;
        return -1;
    case 't':
        o->topic = optarg;
        return -1;
    case 'c':
        o->config = optarg;
        return -1;
    case 'r':
        o->registry = optarg;
        return -1;
    case 'R':
        o->rejects = optarg;
        return -1;
    case 'X':
        o->props[o->nprops++] = optarg;
        return -1;
    case 'q':
        o->quiet = true;
        return -1;
    case 'p':
        o->force_progress = true;
        return -1;
    case 'h':
        import_usage(stdout);
        return 0;
    case 'f':
        if (lp_wire_format_parse(optarg, &o->format) == LP_OK)
            return -1;
        fprintf(stderr, "leadpipe import: --format is avro or confluent, not '%s'\n", optarg);
        return 2;
    case 'F':
        if (import_parse_input_format(optarg, &o->in_format))
            return -1;
        fprintf(stderr, "leadpipe import: --input-format is csv, jsonl or avro\n");
        return 2;
    default:
        import_usage(stderr);
        return 2;
    }
}

/* Checks what the options need of each other; returns -1 or 2. */
static int import_check_opts(const import_opts *o)
{
    const char *missing = !o->brokers               ? "--brokers LIST"
                          : !o->topic && !o->config ? "--topic T"
                          : o->ninputs == 0         ? "at least one input file"
                                                    : NULL;
    if (missing) {
        fprintf(stderr, "leadpipe import: needs %s\nTry 'leadpipe import --help'.\n", missing);
        return 2;
    }
    if (o->format == LP_WIRE_CONFLUENT && !o->registry) {
        fprintf(stderr, "leadpipe import: --format confluent needs --schema-registry URL\n");
        return 2;
    }
    return -1;
}

/* Returns -1 to go on, else the exit status. */
static int import_parse_args(int argc, char **argv, import_opts *o)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"schema-registry", required_argument, NULL, 'r'},
        {"rejects", required_argument, NULL, 'R'},
        {"input-format", required_argument, NULL, 'F'},
        {"property", required_argument, NULL, 'X'},
        {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->rejects = IMPORT_DEFAULT_REJECTS;
    o->inputs = calloc((size_t)argc + 1, sizeof(char *));
    o->props = calloc((size_t)argc + 1, sizeof(char *));
    if (!o->inputs || !o->props)
        return 1;
    int c, status;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:c:X:qh", opts, NULL)) != -1)
        if ((status = import_option(c, o)) >= 0)
            return status;
    while (optind < argc)
        o->inputs[o->ninputs++] = argv[optind++];
    return import_check_opts(o);
}

static void import_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    import_stats *st = opaque;
    if (!m->err) {
        st->delivered++;
        return;
    }
    if (st->failed++ == 0)
        snprintf(st->first_failure, sizeof(st->first_failure), "%s", rd_kafka_err2str(m->err));
}

/* Sets one property; a bad one is a usage error (exit 2). */
static lp_err_t import_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name, value, err, sizeof(err));
    if (res == RD_KAFKA_CONF_OK)
        return LP_OK;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        fprintf(stderr, "leadpipe import: -X %s: unknown librdkafka property\n", name);
    else
        fprintf(stderr, "leadpipe import: -X %s=%s: %s\n", name, value, err);
    return LP_E_USAGE;
}

/* Applies one -X NAME=VALUE argument. */
static lp_err_t import_conf_arg(rd_kafka_conf_t *conf, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "leadpipe import: -X '%s' is not NAME=VALUE\n", arg);
        return LP_E_USAGE;
    }
    char name[256];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof(name)) {
        fprintf(stderr, "leadpipe import: -X property name too long\n");
        return LP_E_USAGE;
    }
    memcpy(name, arg, n);
    name[n] = '\0';
    return import_conf_set(conf, name, eq + 1);
}

/* Builds the idempotent producer; -X properties come last and win. */
static lp_err_t import_producer_new(import_run *run)
{
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
        {"client.id", "leadpipe-import"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    lp_err_t rc = import_conf_set(conf, "bootstrap.servers", run->o->brokers);
    for (size_t i = 0; rc == LP_OK && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = import_conf_set(conf, defaults[i][0], defaults[i][1]);
    for (int i = 0; rc == LP_OK && i < run->o->nprops; i++)
        rc = import_conf_arg(conf, run->o->props[i]);
    if (rc != LP_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, import_on_delivery);
    rd_kafka_conf_set_opaque(conf, &run->st);
    char err[512];
    if (!(run->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "leadpipe import: cannot create the producer: %s\n", err);
        return LP_E_CONFIG;
    }
    return LP_OK;
}

/*
 * Asks the cluster for its brokers, so that a wrong --brokers fails in
 * seconds instead of after message.timeout.ms of silent retries.
 */
static lp_err_t import_check_cluster(import_run *run)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(run->rk, 0, NULL, &md, IMPORT_CONNECT_TIMEOUT_MS);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return LP_OK;
    fprintf(stderr, "leadpipe import: cannot reach the cluster at %s: %s\n", run->o->brokers,
            rd_kafka_err2str(e));
    return LP_E_KAFKA;
}

/* Loads the pipeline (if any) and the field map built from its mappings. */
static lp_err_t import_load_pipeline(import_run *run)
{
    int nerrors = 0;
    lp_err_t rc;
    if (run->o->config && (rc = lp_pipeline_load(run->o->config, stderr, &run->pl, &nerrors)))
        return rc;
    run->info = (lp_run_info){"import", run->pl ? lp_pipeline_version(run->pl) : ""};
    if (!(run->map = lp_fieldmap_new()))
        return LP_E_NOMEM;
    const lp_input_conf *ic = run->pl ? lp_pipeline_input(run->pl) : NULL;
    for (size_t i = 0; ic && i < ic->ncolumns; i++)
        lp_fieldmap_add(run->map, ic->columns[i].header, ic->columns[i].field);
    return LP_OK;
}

/* Creates the wire codec and, for confluent, registers lead.avsc under T-value. */
static lp_err_t import_wire_new(import_run *run, const char *topic)
{
    char err[512];
    lp_err_t rc =
        lp_wire_new(run->o->format, run->o->registry, NULL, NULL, &run->wire, err, sizeof(err));
    if (rc == LP_OK && run->o->format == LP_WIRE_CONFLUENT) {
        char subject[512];
        snprintf(subject, sizeof(subject), "%s-value", topic);
        rc = lp_wire_register_lead(run->wire, subject, &run->schema_id, err, sizeof(err));
        if (rc == LP_OK && !run->o->quiet)
            fprintf(stderr, "leadpipe import: lead.avsc is schema id %d of subject %s\n",
                    (int)run->schema_id, subject);
    }
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe import: %s\n", err);
    return rc;
}

/* Writes a rejected row to the rejects file. */
static lp_err_t import_reject(import_run *run, const lp_record *rec)
{
    run->st.rejected++;
    lp_buf_reset(&run->buf);
    lp_err_t rc = lp_encode_rejected_json(rec, &run->info, &run->buf);
    if (rc == LP_OK && lp_buf_putc(&run->buf, '\n'))
        rc = LP_E_NOMEM;
    if (rc == LP_OK && fwrite(run->buf.data, 1, run->buf.len, run->rejects) != run->buf.len) {
        fprintf(stderr, "leadpipe import: cannot write %s\n", run->o->rejects);
        rc = LP_E_IO;
    }
    return rc;
}

/* Produces one encoded lead, waiting while the local queue is full. */
static lp_err_t import_produce(import_run *run, const char *topic, const lp_lead *l)
{
    lp_buf_reset(&run->buf);
    lp_err_t rc = lp_wire_encode_lead(run->wire, run->schema_id, l, &run->buf);
    if (rc != LP_OK)
        return rc;
    lp_str key = lp_lead_str(l, LP_F_LEAD_ID);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(run->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key.ptr, key.len),
                              RD_KAFKA_V_VALUE(run->buf.data, run->buf.len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(run->rk, 50);
            continue;
        }
        if (e) { /* e.g. a record larger than message.max.bytes: it never leaves */
            run->st.produced++;
            import_on_delivery(run->rk, &(rd_kafka_message_t){.err = e}, &run->st);
        } else {
            run->st.produced++;
        }
        rd_kafka_poll(run->rk, 0);
        return LP_OK;
    }
}

static int64_t import_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one file to the end, producing or rejecting every row. */
static lp_err_t import_file(import_run *run, const char *path, const char *topic)
{
    const lp_input_conf *ic = run->pl ? lp_pipeline_input(run->pl) : NULL;
    lp_reader_opts ro = {.format = run->o->in_format,
                         .map = run->map,
                         .max_field_bytes = ic ? (size_t)ic->max_field_bytes : 0,
                         .max_row_bytes = ic ? (size_t)ic->max_row_bytes : 0,
                         .now_ms = import_now_ms()};
    lp_reader *rd = NULL;
    char err[512];
    lp_err_t rc = lp_reader_open(path, &ro, &rd, err, sizeof(err));
    if (rc != LP_OK) {
        fprintf(stderr, "leadpipe import: %s\n", err);
        return rc;
    }
    lp_progress bar;
    lp_progress_start(&bar, path, run->o->force_progress);
    bar.enabled = bar.enabled && !run->o->quiet;
    uint64_t rows = 0, done = 0, total = 0;
    lp_record rec;
    while (!import_interrupted && (rc = lp_reader_next(rd, &run->arena, &rec)) == LP_OK) {
        rows++;
        run->st.rows++;
        rec.processed_at_ms = ro.now_ms; /* the rejected record's timestamp */
        rc = rec.err != LP_OK ? import_reject(run, &rec) : import_produce(run, topic, &rec.lead);
        if (rc != LP_OK)
            break;
        lp_arena_reset(&run->arena);
        lp_reader_progress(rd, &done, &total);
        lp_progress_update(&bar, rows, done, total);
    }
    lp_reader_progress(rd, &done, &total);
    lp_progress_finish(&bar, rows, done, total);
    if (rc != LP_OK && rc != LP_E_EOF && !import_interrupted)
        fprintf(stderr, "leadpipe import: %s: %s\n", path,
                *lp_reader_error(rd) ? lp_reader_error(rd) : lp_err_str(rc));
    lp_reader_close(rd);
    return (rc == LP_E_EOF || import_interrupted) ? LP_OK : rc;
}

/* Waits for every delivery report; a second SIGINT gives up on the rest. */
static void import_drain(import_run *run)
{
    while (rd_kafka_outq_len(run->rk) > 0) {
        if (import_interrupted > 1) {
            rd_kafka_purge(run->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(run->rk, 1000);
            return;
        }
        rd_kafka_flush(run->rk, 500);
    }
}

static void import_summary(const import_run *run, const char *topic, double secs)
{
    const import_stats *st = &run->st;
    fprintf(stderr,
            "\nleadpipe import: %s -> topic %s (%s)\n"
            "  rows read   %llu\n  produced    %llu\n  delivered   %llu\n"
            "  failed      %llu\n  rejected    %llu%s%s\n"
            "  %.2f s, %.0f rows/s\n",
            run->o->brokers, topic, lp_wire_format_name(run->o->format),
            (unsigned long long)st->rows, (unsigned long long)st->produced,
            (unsigned long long)st->delivered, (unsigned long long)st->failed,
            (unsigned long long)st->rejected, st->rejected ? " -> " : "",
            st->rejected ? run->o->rejects : "", secs, secs > 0 ? (double)st->rows / secs : 0.0);
}

/* Closes the rejects file, removing it when no row was rejected. */
static lp_err_t import_close_rejects(import_run *run)
{
    if (!run->rejects)
        return LP_OK;
    lp_err_t rc = fclose(run->rejects) == 0 ? LP_OK : LP_E_IO;
    run->rejects = NULL;
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe import: cannot write %s\n", run->o->rejects);
    else if (run->st.rejected == 0)
        unlink(run->o->rejects);
    return rc;
}

/* Opens everything a run needs, in order; the caller cleans up. */
static lp_err_t import_open(import_run *run, const char **topic)
{
    lp_err_t rc = import_load_pipeline(run);
    if (rc != LP_OK)
        return rc;
    if (!*topic)
        *topic = lp_pipeline_topics(run->pl)->input;
    if ((rc = import_producer_new(run)) || (rc = import_check_cluster(run)) ||
        (rc = import_wire_new(run, *topic)))
        return rc;
    if (!(run->rejects = fopen(run->o->rejects, "w"))) {
        fprintf(stderr, "leadpipe import: cannot create %s: %s\n", run->o->rejects,
                strerror(errno));
        return LP_E_IO;
    }
    return LP_OK;
}

/* Reads every input, waits for deliveries and reports. */
static lp_err_t import_run_all(import_run *run, const char *topic)
{
    lp_err_t rc = LP_OK;
    double t0 = lp_progress_now();
    for (int i = 0; i < run->o->ninputs && rc == LP_OK && !import_interrupted; i++)
        rc = import_file(run, run->o->inputs[i], topic);
    import_drain(run);
    lp_err_t crc = import_close_rejects(run);
    if (rc == LP_OK)
        rc = crc;
    if (!run->o->quiet)
        import_summary(run, topic, lp_progress_now() - t0);
    if (run->st.failed) {
        fprintf(stderr, "leadpipe import: %llu of %llu records failed delivery (first: %s)\n",
                (unsigned long long)run->st.failed, (unsigned long long)run->st.produced,
                run->st.first_failure);
        rc = rc ? rc : LP_E_KAFKA;
    } else if (run->st.delivered != run->st.produced && rc == LP_OK) {
        fprintf(stderr, "leadpipe import: interrupted; %llu records were not confirmed\n",
                (unsigned long long)(run->st.produced - run->st.delivered));
        rc = LP_E_KAFKA;
    }
    return rc;
}

int lp_cmd_import(int argc, char **argv)
{
    import_opts o;
    import_run run = {.o = &o};
    int status = import_parse_args(argc, argv, &o);
    if (status >= 0)
        goto out_opts;
    const char *topic = o.topic;
    lp_buf_init(&run.buf);
    lp_arena_init(&run.arena, 0);
    import_interrupted = 0;
    signal(SIGINT, import_on_sigint);
    lp_err_t rc = import_open(&run, &topic);
    if (rc == LP_OK)
        rc = import_run_all(&run, topic);
    signal(SIGINT, SIG_DFL);
    status = lp_err_exit_code(rc);
    import_close_rejects(&run);
    if (run.rk)
        rd_kafka_destroy(run.rk);
    lp_wire_free(run.wire);
    lp_fieldmap_free(run.map);
    lp_pipeline_free(run.pl);
    lp_arena_free(&run.arena);
    lp_buf_free(&run.buf);
out_opts:
    free(o.inputs);
    free(o.props);
    return status;
}
