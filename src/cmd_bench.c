/*
 * cmd_bench.c - `leadpipe bench`: command-line front of the bench suite
 * (bench.h). It parses the options, runs the chosen benches into one
 * report, prints the tables and writes the JSON and the plot.
 *
 * Threads: the benches start their own; this file runs on the main thread.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cmd.h"

typedef enum bench_what {
    BENCH_STAGES = 1,
    BENCH_E2E = 2,
    BENCH_SCALING = 4,
    BENCH_SOAK = 8,
    BENCH_ALL = BENCH_STAGES | BENCH_E2E | BENCH_SCALING,
} bench_what;

typedef struct bench_cli {
    lp_bench_opts o;
    unsigned what;
    const char *json, *plot;
} bench_cli;

static void bench_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe bench stages|e2e|scaling|soak|all [options]\n"
            "\n"
            "  stages   each stage and the whole compiled chain, in memory, one thread,\n"
            "           against avro-c's generic decode+encode of the same records\n"
            "  e2e      through Kafka on the embedded broker, against a raw\n"
            "           consume-and-produce pass-through of the same records\n"
            "  scaling  the in-memory chain on each --threads count\n"
            "  soak     e2e at --rate for --duration, printing RSS every 10 s\n"
            "  all      stages, scaling and e2e (not soak)\n"
            "\n"
            "  -c, --config FILE     pipeline (default pipelines/default.yaml)\n"
            "  -n, --leads N         leads per run (default 2000000)\n"
            "  -r, --runs N          runs per measurement, median reported (default 5)\n"
            "  -t, --threads LIST    thread counts, e.g. 1,2 (default 1,2)\n"
            "      --batch N         leads per in-memory batch (default 16384)\n"
            "      --seed N          generator seed (default 1)\n"
            "      --partitions N    e2e input partitions (default: the largest --threads)\n"
            "      --window N        e2e: most leads in flight (default 10000)\n"
            "      --duration T      soak length: 90s, 10m, 1h (default 10m)\n"
            "      --rate N          soak leads/s (default 20000)\n"
            "      --json FILE       write the results as JSON (see bench/README.md)\n"
            "      --plot FILE       draw throughput by stage and scaling as a PNG\n"
            "  -q, --quiet           no progress lines on stderr\n"
            "  -h, --help            show this help\n"
            "\n"
            "Headroom is the rate over the 20,000 leads/day target (%.4f leads/s).\n",
            LP_BENCH_TARGET_PER_S);
}

/* Parses a whole decimal number in [lo, hi]. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Parses "1,2,4" into o->threads. */
static bool parse_threads(const char *s, lp_bench_opts *o)
{
    o->nthreads = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64 || o->nthreads == LP_BENCH_THREADS_MAX ||
            (*end && *end != ','))
            return false;
        o->threads[o->nthreads++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return o->nthreads > 0;
}

/* Parses "90", "90s", "10m" or "1h" into seconds. */
static bool parse_duration(const char *s, double *secs)
{
    char *end;
    double v = strtod(s, &end);
    double unit = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : 0;
    if (end == s || unit == 0 || !(v > 0))
        return false;
    *secs = v * unit;
    return true;
}

static bool parse_what(const char *s, unsigned *what)
{
    static const struct { const char *name; unsigned what; } names[] = {
        {"stages", BENCH_STAGES}, {"e2e", BENCH_E2E},   {"scaling", BENCH_SCALING},
        {"soak", BENCH_SOAK},     {"all", BENCH_ALL},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i].name)) {
            *what = names[i].what;
            return true;
        }
    return false;
}

/* Applies one numeric option; false when its value is out of range. */
static bool bench_number(int c, const char *arg, lp_bench_opts *o)
{
    uint64_t v;
    switch (c) {
    case 'n': return parse_u64(arg, 2, 1000000000, &o->leads);
    case 'r': return parse_u64(arg, 1, LP_BENCH_RUNS_MAX, &v) && (o->runs = (int)v, true);
    case 'B': return parse_u64(arg, 1, 1 << 20, &v) && (o->batch = (uint32_t)v, true);
    case 'S': return parse_u64(arg, 0, UINT64_MAX, &o->seed);
    case 'P': return parse_u64(arg, 1, 256, &v) && (o->partitions = (int)v, true);
    case 'W': return parse_u64(arg, 1, 400000, &v) && (o->window = (uint32_t)v, true);
    case 'R': return parse_u64(arg, 1, 10000000, &v) && (o->soak_rate = (double)v, true);
    case 'D': return parse_duration(arg, &o->soak_seconds);
    case 't': return parse_threads(arg, o);
    default: return false;
    }
}

/* Returns -1 to go on, else the exit status. */
static int bench_parse(int argc, char **argv, bench_cli *cli)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"leads", required_argument, NULL, 'n'},
        {"runs", required_argument, NULL, 'r'},    {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'B'},   {"seed", required_argument, NULL, 'S'},
        {"partitions", required_argument, NULL, 'P'}, {"window", required_argument, NULL, 'W'},
        {"duration", required_argument, NULL, 'D'}, {"rate", required_argument, NULL, 'R'},
        {"json", required_argument, NULL, 'j'},    {"plot", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:n:r:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli->o.pipeline_path = optarg; break;
        case 'j': cli->json = optarg; break;
        case 'p': cli->plot = optarg; break;
        case 'q': cli->o.quiet = true; break;
        case 'h': bench_usage(stdout); return 0;
        case '?': bench_usage(stderr); return 2;
        default:
            if (!bench_number(c, optarg, &cli->o)) {
                fprintf(stderr, "leadpipe bench: bad value '%s' for an option\n", optarg);
                return 2;
            }
        }
    }
    if (optind != argc - 1 || !parse_what(argv[optind], &cli->what)) {
        fprintf(stderr, "leadpipe bench: name one of stages, e2e, scaling, soak or all\n"
                        "Try 'leadpipe bench --help'.\n");
        return 2;
    }
    return -1;
}

/* Runs the chosen benches in a fixed order; stops at the first failure. */
static lp_err_t bench_run(bench_cli *cli, lp_bench_report *rep)
{
    lp_err_t rc = LP_OK;
    if (cli->what & BENCH_STAGES)
        rc = lp_bench_stages(rep);
    if (rc == LP_OK && (cli->what & BENCH_SCALING))
        rc = lp_bench_scaling(rep);
    if (rc == LP_OK && (cli->what & BENCH_E2E))
        rc = lp_bench_e2e_run(rep);
    if (rc == LP_OK && (cli->what & BENCH_SOAK))
        rc = lp_bench_soak(rep, stdout);
    return rc;
}

/* Fills the report header (pipeline name and version) when no bench did. */
static lp_err_t bench_name_pipeline(lp_bench_report *rep)
{
    lp_pipeline *pl;
    int nerr = 0;
    if (lp_pipeline_load(rep->opts.pipeline_path, stderr, &pl, &nerr) != LP_OK) {
        fprintf(stderr, "leadpipe bench: cannot load %s\n", rep->opts.pipeline_path);
        return LP_E_CONFIG;
    }
    snprintf(rep->pipeline, sizeof(rep->pipeline), "%s", lp_pipeline_name(pl));
    snprintf(rep->pipeline_version, sizeof(rep->pipeline_version), "%s",
             lp_pipeline_version(pl));
    lp_pipeline_free(pl);
    return LP_OK;
}

int lp_cmd_bench(int argc, char **argv)
{
    bench_cli cli;
    memset(&cli, 0, sizeof(cli));
    lp_bench_opts_init(&cli.o);
    int st = bench_parse(argc, argv, &cli);
    if (st >= 0)
        return st;
    if (!cli.o.pipeline_path)
        cli.o.pipeline_path = LP_SOURCE_DIR "/pipelines/default.yaml";
    const char *schema_dir = getenv("LEADPIPE_SCHEMA_DIR");
    static char schema[4096];
    snprintf(schema, sizeof(schema), "%s/lead.avsc", schema_dir ? schema_dir : LP_SOURCE_DIR "/schemas");
    cli.o.schema_path = schema;
    lp_bench_report *rep = malloc(sizeof(*rep));
    if (!rep)
        return 1;
    lp_bench_report_init(rep, &cli.o);
    lp_err_t rc = bench_name_pipeline(rep);
    if (rc == LP_OK)
        rc = bench_run(&cli, rep);
    lp_bench_mem_sample(&rep->mem);
    if (rc == LP_OK && cli.what != BENCH_SOAK)
        lp_bench_print(rep, stdout);
    if (rc == LP_OK && cli.json)
        rc = lp_bench_write_json(rep, cli.json);
    if (rc == LP_OK && cli.plot)
        rc = lp_bench_plot(rep, cli.plot);
    free(rep);
    return lp_err_exit_code(rc);
}
