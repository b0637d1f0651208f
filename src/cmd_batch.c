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
#include "park.h"
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

/*
 * Ordered output. Records that park on slow I/O finish late, but outputs
 * keep input order, so a replay writes the same bytes. Every record gets a
 * sequence number. A finished record's outputs are encoded as segments
 * [sink u8][length u32][bytes]: written at once when the record is next in
 * order, held in the window otherwise. The window is bounded: reading waits
 * for parked records when it fills up.
 */
enum { HOLD_EMPTY = 0, HOLD_PARKED, HOLD_READY };
enum { SINK_ROUTED = 0, SINK_NURTURE, SINK_REJECTED };

#define ORDER_WINDOW 65536u /* records between the oldest unwritten and the newest */

typedef struct batch_hold {
    uint8_t state;
    batch_file_stats *fs;
    lp_buf segs;
} batch_hold;

typedef struct batch_run {
    const batch_opts *o;
    const lp_pipeline *pl;
    lp_worker *w;
    batch_out *out;
    batch_stats *st;
    batch_hold *ring; /* ORDER_WINDOW slots, by sequence number */
    uint64_t next_seq, next_emit;
    size_t parked;
    lp_park_queue queue;
    lp_buf scratch; /* segments of the record being finished in order */
} batch_run;

static lp_err_t add_segment(lp_buf *segs, uint8_t sink, const lp_buf *bytes)
{
    uint32_t len = (uint32_t)bytes->len;
    if (lp_buf_putc(segs, (char)sink) || lp_buf_append(segs, &len, sizeof(len)) ||
        lp_buf_append(segs, bytes->data, bytes->len))
        return LP_E_NOMEM;
    return LP_OK;
}

/* Counts a finished record and encodes its outputs as segments. */
static lp_err_t encode_outcome(batch_run *br, const lp_record *r, batch_file_stats *fs,
                               lp_buf *segs)
{
    batch_out *out = br->out;
    batch_stats *st = br->st;
    lp_err_t rc;
    lp_buf_reset(&out->buf);
    if (r->err != LP_OK) {
        st->rejected++;
        fs->rejected++;
        unsigned code = (unsigned)r->err - 100;
        st->by_code[code < BATCH_CODES ? code : 0]++;
        rc = out->enc_rejected(r, &out->info, &out->buf);
        return rc ? rc : add_segment(segs, SINK_REJECTED, &out->buf);
    }
    st->routed++;
    fs->routed++;
    st->disposition[r->disposition]++;
    st->qualification[r->qualification]++;
    st->gray_zone += r->gray_zone;
    if ((rc = out->enc_routed(r, &out->info, &out->buf)) ||
        (rc = add_segment(segs, SINK_ROUTED, &out->buf)))
        return rc;
    for (uint16_t t = 0; t < r->ntasks; t++) {
        lp_buf_reset(&out->buf);
        if ((rc = out->enc_task(r, &r->tasks[t], &out->info, &out->buf)) ||
            (rc = add_segment(segs, SINK_NURTURE, &out->buf)))
            return rc;
        st->tasks++;
    }
    return LP_OK;
}

static lp_err_t write_segments(batch_run *br, const lp_buf *segs)
{
    lp_sink *sinks[] = {br->out->routed, br->out->nurture, br->out->rejected};
    for (size_t pos = 0; pos < segs->len;) {
        uint8_t sink = (uint8_t)segs->data[pos];
        uint32_t len;
        memcpy(&len, segs->data + pos + 1, sizeof(len));
        lp_err_t rc = lp_sink_write(sinks[sink], segs->data + pos + 5, len);
        if (rc != LP_OK)
            return rc;
        pos += 5 + len;
    }
    return LP_OK;
}

/* Writes every held record that is now next in order. */
static lp_err_t flush_ready(batch_run *br)
{
    for (;;) {
        batch_hold *h = &br->ring[br->next_emit % ORDER_WINDOW];
        if (br->next_emit == br->next_seq || h->state != HOLD_READY)
            return LP_OK;
        lp_err_t rc = write_segments(br, &h->segs);
        lp_buf_reset(&h->segs);
        h->state = HOLD_EMPTY;
        br->next_emit++;
        if (rc != LP_OK)
            return rc;
    }
}

/* A record has its outcome: write it now if it is next, else hold it. */
static lp_err_t finish(batch_run *br, uint64_t seq, batch_file_stats *fs, const lp_record *r)
{
    batch_hold *h = &br->ring[seq % ORDER_WINDOW];
    lp_buf *segs = seq == br->next_emit ? &br->scratch : &h->segs;
    lp_buf_reset(segs);
    lp_err_t rc = encode_outcome(br, r, fs, segs);
    if (rc != LP_OK)
        return rc;
    if (seq != br->next_emit) {
        h->state = HOLD_READY;
        return LP_OK;
    }
    h->state = HOLD_EMPTY;
    br->next_emit++;
    if ((rc = write_segments(br, segs)) != LP_OK)
        return rc;
    return flush_ready(br);
}

/* Parks a record with its stage's service; it comes back through the queue. */
static lp_err_t park(batch_run *br, uint64_t seq, batch_file_stats *fs, const lp_record *r)
{
    lp_parked *p = lp_park_detach(r, (void *)(uintptr_t)seq, r->park_deadline_ms);
    if (!p)
        return LP_E_NOMEM;
    batch_hold *h = &br->ring[seq % ORDER_WINDOW];
    h->state = HOLD_PARKED;
    h->fs = fs;
    br->parked++;
    lp_pipeline_submit(br->pl, p, &br->queue);
    return LP_OK;
}

/* Runs a record through the chain (again, after parking) and finishes or parks it. */
static lp_err_t process(batch_run *br, uint64_t seq, batch_file_stats *fs, lp_record *r)
{
    if (lp_pipeline_process(br->pl, br->w, r) == LP_E_PARK)
        return park(br, seq, fs, r);
    return finish(br, seq, fs, r);
}

/* Resumes the records whose slow I/O has finished; waits up to timeout_ms. */
static lp_err_t resume_parked(batch_run *br, int timeout_ms)
{
    lp_parked *list = lp_park_queue_take(&br->queue, timeout_ms);
    lp_err_t rc = LP_OK;
    while (list) {
        lp_parked *p = list;
        list = p->next;
        uint64_t seq = (uint64_t)(uintptr_t)p->owner;
        batch_hold *h = &br->ring[seq % ORDER_WINDOW];
        br->parked--;
        if (rc == LP_OK)
            rc = process(br, seq, h->fs, &p->rec);
        lp_parked_free(p);
    }
    return rc;
}

/* Waits while the order window is full, so memory stays bounded. */
static lp_err_t make_room(batch_run *br)
{
    lp_err_t rc = LP_OK;
    while (rc == LP_OK && br->next_seq - br->next_emit >= ORDER_WINDOW)
        rc = resume_parked(br, 100);
    return rc;
}

static lp_err_t run_file(batch_run *br, const lp_fieldmap *map, batch_file_stats *fs)
{
    const batch_opts *o = br->o;
    const lp_input_conf *ic = lp_pipeline_input(br->pl);
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
    lp_arena *a = lp_worker_arena(br->w);
    uint64_t done = 0, total = 0;
    lp_record rec;
    while ((rc = make_room(br)) == LP_OK && (rc = lp_reader_next(rd, a, &rec)) == LP_OK) {
        br->st->rows++;
        fs->rows++;
        rec.processed_at_ms = o->now_ms;
        if ((rc = process(br, br->next_seq++, fs, &rec)) != LP_OK)
            break;
        if (br->parked && (rc = resume_parked(br, 0)) != LP_OK)
            break;
        if (a->used > BATCH_ARENA_RESET)
            lp_arena_reset(a);
        lp_reader_progress(rd, &done, &total);
        lp_progress_update(&bar, fs->rows, done, total);
    }
    lp_reader_progress(rd, &done, &total);
    lp_progress_finish(&bar, fs->rows, done, total);
    if (rc == LP_E_EOF)
        rc = LP_OK;
    else
        fprintf(stderr, "leadpipe batch: %s: %s\n", fs->path,
                rc == LP_E_IO && lp_reader_error(rd) ? lp_reader_error(rd) : lp_err_str(rc));
    lp_reader_close(rd);
    return rc;
}

/* Waits for every parked record, then writes what is left in order. */
static lp_err_t drain(batch_run *br)
{
    lp_err_t rc = LP_OK;
    while (rc == LP_OK && br->parked)
        rc = resume_parked(br, 100);
    return rc == LP_OK ? flush_ready(br) : rc;
}

static lp_err_t batch_run_init(batch_run *br)
{
    br->ring = calloc(ORDER_WINDOW, sizeof(*br->ring));
    lp_park_queue_init(&br->queue);
    lp_buf_init(&br->scratch);
    return br->ring ? LP_OK : LP_E_NOMEM;
}

static void batch_run_free(batch_run *br)
{
    for (size_t i = 0; br->ring && i < ORDER_WINDOW; i++)
        lp_buf_free(&br->ring[i].segs);
    free(br->ring);
    lp_park_queue_destroy(&br->queue);
    lp_buf_free(&br->scratch);
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
    lp_pipeline_report(pl, f); /* stages with slow I/O: requests, cache hits, cost */
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
    batch_run br = {.o = &o, .pl = pl, .w = w, .out = &out, .st = &st};
    if ((rc = batch_run_init(&br)) != LP_OK) {
        batch_run_free(&br);
        goto out;
    }
    for (int i = 0; i < o.ninputs && rc == LP_OK; i++) {
        st.files[i].path = o.inputs[i];
        rc = run_file(&br, map, &st.files[i]);
    }
    lp_err_t drc = drain(&br);
    if (rc == LP_OK)
        rc = drc;
    batch_run_free(&br);
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
