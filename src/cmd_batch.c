/*
 * cmd_batch.c - `leadpipe batch`: the compiled pipeline, offline, from
 * files to files.
 *
 * Each input row becomes exactly one outcome: a line in routed.jsonl or in
 * rejected.jsonl (or the .avro equivalents), plus any nurture tasks in
 * nurture.jsonl. The run checks that conservation before it exits and
 * prints a summary table on stderr.
 *
 * Determinism: the run has one clock, read once at start (or pinned with
 * --now or SOURCE_DATE_EPOCH); every timestamp the pipeline writes comes
 * from it or from the input, so the same input, pipeline and clock give
 * byte-identical outputs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "encode.h"
#include "fieldmap.h"
#include "ocf.h"
#include "pipeline.h"
#include "progress.h"
#include "reader.h"
#include "sink.h"

#define BATCH_ARENA_RESET (8u << 20) /* reset the batch arena past 8 MiB */
#define BATCH_CODES 128              /* record-level codes are 100..227 */

typedef struct batch_opts {
    const char *config;
    const char *outdir;
    const char **inputs;
    int ninputs;
    lp_format in_format;
    bool avro;
    bool quiet;
    bool force_progress;
    int64_t now_ms;
} batch_opts;

typedef struct batch_file_stats {
    const char *path;
    uint64_t rows, routed, rejected;
} batch_file_stats;

typedef struct batch_stats {
    uint64_t rows, routed, rejected, tasks, gray_zone;
    uint64_t disposition[LP_DISP_DUPLICATE + 1];
    uint64_t qualification[LP_QUAL_DISQUALIFIED + 1];
    uint64_t by_code[BATCH_CODES];
    batch_file_stats *files;
} batch_stats;

/* The three outputs and how records are encoded into them. */
typedef struct batch_out {
    lp_sink *routed, *nurture, *rejected;
    char paths[3][4096];
    bool avro;
    lp_buf buf;
    lp_run_info info;
    lp_err_t (*enc_routed)(const lp_record *, const lp_run_info *, lp_buf *);
    lp_err_t (*enc_task)(const lp_record *, const lp_task *, const lp_run_info *, lp_buf *);
    lp_err_t (*enc_rejected)(const lp_record *, const lp_run_info *, lp_buf *);
} batch_out;

static void batch_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe batch -c PIPELINE.yaml --out DIR [options] --in FILE [--in FILE]...\n"
            "\n"
            "Runs the compiled pipeline offline. Every input row ends as exactly one line in\n"
            "DIR/routed.jsonl or DIR/rejected.jsonl; nurture tasks go to DIR/nurture.jsonl.\n"
            "\n"
            "  -c, --config FILE     pipeline file (see pipelines/default.yaml)\n"
            "  -i, --in FILE         input file: CSV, JSONL or Avro container (repeatable;\n"
            "                        bare arguments are inputs too; - reads stdin)\n"
            "  -o, --out DIR         output directory (created if missing)\n"
            "      --format FMT      output format: jsonl (default) or avro\n"
            "      --input-format F  force the input format: csv, jsonl or avro\n"
            "      --now TIME        the run's clock (ISO 8601 or epoch); default: now, or\n"
            "                        SOURCE_DATE_EPOCH. Pin it for byte-identical replays\n"
            "      --progress        draw the progress bar even when stderr is not a terminal\n"
            "  -q, --quiet           no progress bar and no summary\n"
            "  -h, --help            show this help\n"
            "\n"
            "Exit status: 0 when every row has an outcome (rejected rows included),\n"
            "1 on an I/O failure, 2 on a usage or pipeline error.\n");
}

static int64_t wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool parse_format(const char *s, lp_format *f)
{
    static const struct { const char *name; lp_format fmt; } names[] = {
        {"csv", LP_FMT_CSV}, {"jsonl", LP_FMT_JSONL}, {"json", LP_FMT_JSONL},
        {"avro", LP_FMT_AVRO}, {"auto", LP_FMT_AUTO},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i].name)) {
            *f = names[i].fmt;
            return true;
        }
    return false;
}

static bool parse_now(const char *s, int64_t *ms)
{
    bool present = false;
    return lp_parse_timestamp(s, strlen(s), ms, &present) == LP_OK && present;
}

static int parse_args(int argc, char **argv, batch_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},    {"format", required_argument, NULL, 'f'},
        {"input-format", required_argument, NULL, 'F'},
        {"now", required_argument, NULL, 'n'},    {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->inputs = calloc((size_t)argc + 1, sizeof(char *));
    o->now_ms = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:i:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'i': o->inputs[o->ninputs++] = optarg; break;
        case 'o': o->outdir = optarg; break;
        case 'q': o->quiet = true; break;
        case 'p': o->force_progress = true; break;
        case 'h': batch_usage(stdout); return 0;
        case 'f':
            if (strcmp(optarg, "jsonl") && strcmp(optarg, "avro")) {
                fprintf(stderr, "leadpipe batch: --format is jsonl or avro, not '%s'\n", optarg);
                return 2;
            }
            o->avro = !strcmp(optarg, "avro");
            break;
        case 'F':
            if (!parse_format(optarg, &o->in_format)) {
                fprintf(stderr, "leadpipe batch: --input-format is csv, jsonl or avro\n");
                return 2;
            }
            break;
        case 'n':
            if (!parse_now(optarg, &o->now_ms)) {
                fprintf(stderr, "leadpipe batch: --now '%s' is not a timestamp\n", optarg);
                return 2;
            }
            break;
        default: batch_usage(stderr); return 2;
        }
    }
    while (optind < argc)
        o->inputs[o->ninputs++] = argv[optind++];
    if (!o->config || !o->outdir || o->ninputs == 0) {
        fprintf(stderr, "leadpipe batch: needs -c PIPELINE, --out DIR and at least one input\n"
                        "Try 'leadpipe batch --help'.\n");
        return 2;
    }
    if (o->now_ms < 0) {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        char *end;
        long long secs = sde ? strtoll(sde, &end, 10) : -1;
        o->now_ms = (sde && *sde && !*end && secs >= 0) ? secs * 1000 : wall_clock_ms();
    }
    return -1; /* go on */
}

static lp_err_t open_outputs(const batch_opts *o, batch_out *out)
{
    static const char *const schema_names[] = {"routed_lead", "nurture_task", "rejected"};
    static const char *const file_names[] = {"routed", "nurture", "rejected"};
    lp_sink **sinks[] = {&out->routed, &out->nurture, &out->rejected};
    const char *schema_dir = getenv("LEADPIPE_SCHEMA_DIR");
    if (!schema_dir)
        schema_dir = LP_SOURCE_DIR "/schemas";
    if (mkdir(o->outdir, 0777) && errno != EEXIST) {
        fprintf(stderr, "leadpipe batch: cannot create %s: %s\n", o->outdir, strerror(errno));
        return LP_E_IO;
    }
    for (int i = 0; i < 3; i++) {
        char *path = out->paths[i], schema[4096], err[256];
        snprintf(path, sizeof(out->paths[i]), "%s/%s.%s", o->outdir, file_names[i],
                 o->avro ? "avro" : "jsonl");
        snprintf(schema, sizeof(schema), "%s/%s.avsc", schema_dir, schema_names[i]);
        lp_err_t rc = lp_sink_open(path, o->avro ? LP_SINK_AVRO_DEFLATE : LP_SINK_JSONL, schema,
                                   sinks[i], err, sizeof(err));
        if (rc != LP_OK) {
            fprintf(stderr, "leadpipe batch: %s\n", err);
            return rc;
        }
    }
    out->avro = o->avro;
    out->enc_routed = o->avro ? lp_encode_routed_avro : lp_encode_routed_json;
    out->enc_task = o->avro ? lp_encode_task_avro : lp_encode_task_json;
    out->enc_rejected = o->avro ? lp_encode_rejected_avro : lp_encode_rejected_json;
    lp_buf_init(&out->buf);
    return LP_OK;
}

static lp_err_t close_outputs(batch_out *out)
{
    lp_err_t rc = LP_OK;
    lp_sink *sinks[] = {out->routed, out->nurture, out->rejected};
    for (int i = 0; i < 3; i++) {
        char err[256];
        if (sinks[i] && lp_sink_close(sinks[i], err, sizeof(err)) != LP_OK) {
            fprintf(stderr, "leadpipe batch: %s\n", err);
            rc = LP_E_IO;
        }
        /* replays must be byte-identical: a marker derived from the file's name */
        const char *base = strrchr(out->paths[i], '/');
        base = base ? base + 1 : out->paths[i];
        if (sinks[i] && out->avro && rc == LP_OK &&
            lp_ocf_set_sync(out->paths[i], base, strlen(base)) != LP_OK) {
            fprintf(stderr, "leadpipe batch: cannot finish %s\n", out->paths[i]);
            rc = LP_E_IO;
        }
    }
    lp_buf_free(&out->buf);
    return rc;
}

/* Encodes and writes one record's outcome and its tasks; counts them. */
static lp_err_t emit(batch_out *out, const lp_record *r, batch_stats *st, batch_file_stats *fs)
{
    lp_buf_reset(&out->buf);
    if (r->err != LP_OK) {
        st->rejected++;
        fs->rejected++;
        unsigned code = (unsigned)r->err - 100;
        st->by_code[code < BATCH_CODES ? code : 0]++;
        lp_err_t rc = out->enc_rejected(r, &out->info, &out->buf);
        return rc ? rc : lp_sink_write(out->rejected, out->buf.data, out->buf.len);
    }
    st->routed++;
    fs->routed++;
    st->disposition[r->disposition]++;
    st->qualification[r->qualification]++;
    st->gray_zone += r->gray_zone;
    lp_err_t rc = out->enc_routed(r, &out->info, &out->buf);
    if (rc || (rc = lp_sink_write(out->routed, out->buf.data, out->buf.len)))
        return rc;
    for (uint16_t t = 0; t < r->ntasks; t++) {
        lp_buf_reset(&out->buf);
        if ((rc = out->enc_task(r, &r->tasks[t], &out->info, &out->buf)) ||
            (rc = lp_sink_write(out->nurture, out->buf.data, out->buf.len)))
            return rc;
        st->tasks++;
    }
    return LP_OK;
}

static lp_err_t run_file(const batch_opts *o, const lp_pipeline *pl, lp_worker *w,
                         const lp_fieldmap *map, batch_out *out, batch_stats *st,
                         batch_file_stats *fs)
{
    const lp_input_conf *ic = lp_pipeline_input(pl);
    lp_reader_opts ro = {.format = o->in_format, .max_field_bytes = (size_t)ic->max_field_bytes,
                         .max_row_bytes = (size_t)ic->max_row_bytes, .map = map,
                         .now_ms = o->now_ms};
    lp_reader *rd = NULL;
    char err[512];
    lp_err_t rc = lp_reader_open(fs->path, &ro, &rd, err, sizeof(err));
    if (rc != LP_OK) {
        fprintf(stderr, "leadpipe batch: %s\n", err);
        return rc;
    }
    lp_progress bar;
    lp_progress_start(&bar, fs->path, o->force_progress);
    bar.enabled = bar.enabled && !o->quiet;
    lp_arena *a = lp_worker_arena(w);
    uint64_t done = 0, total = 0;
    lp_record rec;
    while ((rc = lp_reader_next(rd, a, &rec)) == LP_OK) {
        st->rows++;
        fs->rows++;
        rec.processed_at_ms = o->now_ms;
        if (lp_pipeline_process(pl, w, &rec) == LP_E_PARK) {
            /* no stage of an offline run parks yet; never drop a record */
            lp_record_reject(&rec, (lp_stage_id)rec.next_stage, LP_E_INTERNAL,
                             "record parked in an offline run");
        }
        if ((rc = emit(out, &rec, st, fs)) != LP_OK)
            break;
        if (a->used > BATCH_ARENA_RESET)
            lp_arena_reset(a);
        lp_reader_progress(rd, &done, &total);
        lp_progress_update(&bar, fs->rows, done, total);
    }
    lp_reader_progress(rd, &done, &total);
    lp_progress_finish(&bar, fs->rows, done, total);
    lp_reader_close(rd);
    lp_arena_reset(a);
    if (rc == LP_E_EOF)
        return LP_OK;
    fprintf(stderr, "leadpipe batch: %s: %s\n", fs->path, lp_err_str(rc));
    return rc;
}

static lp_fieldmap *build_fieldmap(const lp_pipeline *pl)
{
    lp_fieldmap *map = lp_fieldmap_new();
    const lp_input_conf *ic = lp_pipeline_input(pl);
    for (size_t i = 0; map && i < ic->ncolumns; i++)
        lp_fieldmap_add(map, ic->columns[i].header, ic->columns[i].field);
    return map;
}

static void print_summary(const batch_opts *o, const lp_pipeline *pl, const batch_stats *st,
                          double secs)
{
    FILE *f = stderr;
    fprintf(f, "\nleadpipe batch: pipeline '%s' version %s\n\n", lp_pipeline_name(pl),
            lp_pipeline_version(pl));
    fprintf(f, "  %-40s %10s %10s %10s\n", "input", "rows", "routed", "rejected");
    for (int i = 0; i < o->ninputs; i++)
        fprintf(f, "  %-40.40s %10llu %10llu %10llu\n", st->files[i].path,
                (unsigned long long)st->files[i].rows, (unsigned long long)st->files[i].routed,
                (unsigned long long)st->files[i].rejected);
    fprintf(f, "  %-40s %10llu %10llu %10llu\n\n", "total", (unsigned long long)st->rows,
            (unsigned long long)st->routed, (unsigned long long)st->rejected);
    fprintf(f, "  dispositions   sales %llu, nurture %llu, disqualified %llu, duplicate %llu\n",
            (unsigned long long)st->disposition[LP_DISP_SALES],
            (unsigned long long)st->disposition[LP_DISP_NURTURE],
            (unsigned long long)st->disposition[LP_DISP_DISQUALIFIED],
            (unsigned long long)st->disposition[LP_DISP_DUPLICATE]);
    fprintf(f, "  qualification  SQL %llu, MQL %llu, nurture %llu (gray zone %llu)\n",
            (unsigned long long)st->qualification[LP_QUAL_SQL],
            (unsigned long long)st->qualification[LP_QUAL_MQL],
            (unsigned long long)st->qualification[LP_QUAL_NURTURE],
            (unsigned long long)st->gray_zone);
    fprintf(f, "  nurture tasks  %llu\n", (unsigned long long)st->tasks);
    for (int c = 0; c < BATCH_CODES; c++)
        if (st->by_code[c])
            fprintf(f, "  rejected       %-26s %llu\n", lp_err_name((lp_err_t)(c + 100)),
                    (unsigned long long)st->by_code[c]);
    fprintf(f, "\n  %.2f s, %.0f rows/s. Outputs in %s/\n", secs,
            secs > 0 ? (double)st->rows / secs : 0.0, o->outdir);
}

int lp_cmd_batch(int argc, char **argv)
{
    batch_opts o;
    int status = parse_args(argc, argv, &o);
    if (status >= 0) {
        free(o.inputs);
        return status;
    }
    lp_pipeline *pl = NULL;
    lp_worker *w = NULL;
    lp_fieldmap *map = NULL;
    batch_out out = {0};
    batch_stats st = {0};
    int nerrors = 0;
    lp_err_t rc = lp_pipeline_load(o.config, stderr, &pl, &nerrors);
    if (rc != LP_OK)
        goto out;
    out.info = (lp_run_info){lp_pipeline_name(pl), lp_pipeline_version(pl)};
    w = lp_worker_new(pl);
    map = build_fieldmap(pl);
    st.files = calloc((size_t)o.ninputs, sizeof(*st.files));
    if (!w || !map || !st.files) {
        rc = LP_E_NOMEM;
        goto out;
    }
    if ((rc = open_outputs(&o, &out)) != LP_OK)
        goto out;
    double t0 = lp_progress_now();
    for (int i = 0; i < o.ninputs && rc == LP_OK; i++) {
        st.files[i].path = o.inputs[i];
        rc = run_file(&o, pl, w, map, &out, &st, &st.files[i]);
    }
    lp_err_t crc = close_outputs(&out);
    if (rc == LP_OK)
        rc = crc;
    if (rc == LP_OK && st.rows != st.routed + st.rejected) {
        fprintf(stderr, "leadpipe batch: conservation broken: %llu rows, %llu outcomes\n",
                (unsigned long long)st.rows, (unsigned long long)(st.routed + st.rejected));
        rc = LP_E_INTERNAL;
    }
    if (!o.quiet)
        print_summary(&o, pl, &st, lp_progress_now() - t0);
out:
    lp_fieldmap_free(map);
    lp_worker_free(w);
    lp_pipeline_free(pl);
    free(st.files);
    free(o.inputs);
    return lp_err_exit_code(rc);
}
