/*
 * bench.h - the benchmark suite behind `leadpipe bench`.
 *
 * Four benches fill one lp_bench_report:
 *   - stages:  in memory, one thread. The generic avro-c round trip (the
 *              baseline), the fast codec alone, each stage in isolation and
 *              the whole compiled chain (decode -> process -> encode).
 *   - scaling: the in-memory chain on 1..N threads sharing one pipeline.
 *   - e2e:     through Kafka on the embedded broker (lp_runtime_run), and a
 *              raw consume-and-produce pass-through of the same records on
 *              the same broker in the same run (the I/O ceiling).
 *   - soak:    e2e at a fixed rate for a long time, sampling RSS.
 *
 * Every rate is the median over opts.runs runs; the runs themselves are
 * kept so that the JSON shows the spread. Leads come from leadgen.h with a
 * fixed seed, so two runs of the same command measure the same leads.
 *
 * Threads: each bench runs on the calling thread and starts (and joins)
 * whatever threads it needs. A report belongs to one thread.
 */
#ifndef LP_BENCH_H
#define LP_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "pipeline.h"

#define LP_BENCH_TARGET_PER_DAY 20000.0
#define LP_BENCH_TARGET_PER_S (LP_BENCH_TARGET_PER_DAY / 86400.0) /* 0.2315 */
#define LP_BENCH_RUNS_MAX 32
#define LP_BENCH_ROWS_MAX 16
#define LP_BENCH_THREADS_MAX 16

typedef struct lp_bench_opts {
    const char *pipeline_path; /* -c; default pipelines/default.yaml */
    const char *schema_path;   /* lead.avsc, for the generic baseline */
    uint64_t leads;            /* leads per run */
    int runs;                  /* runs per measurement; the median is reported */
    uint32_t batch;            /* leads per in-memory batch */
    uint64_t seed;
    int threads[LP_BENCH_THREADS_MAX]; /* --threads 1,2 */
    int nthreads;
    int partitions;        /* input topic partitions for e2e; 0: the largest thread count */
    uint32_t window;       /* e2e: most leads produced but not yet out */
    double soak_seconds;   /* soak duration */
    double soak_rate;      /* soak leads/s */
    bool quiet;            /* no progress lines on stderr */
} lp_bench_opts;

/* Latency percentiles, microseconds. */
typedef struct lp_bench_latency {
    double p50, p99, p999, max;
    uint64_t samples;
} lp_bench_latency;

/* One in-memory measurement: a stage, the codec, the chain or the baseline. */
typedef struct lp_bench_row {
    char name[24];
    const char *kind;        /* "baseline", "codec", "stage" or "chain" */
    uint64_t leads;          /* leads timed per run */
    double rate;             /* leads/s, median of runs */
    double ns_per_lead;      /* wall, of the median run */
    double cpu_ns_per_lead;  /* thread CPU time, of the median run */
    double runs[LP_BENCH_RUNS_MAX];
    int nruns;
} lp_bench_row;

/* One e2e measurement at one thread count. */
typedef struct lp_bench_e2e {
    int threads;
    uint64_t leads;
    uint64_t outputs;        /* routed + rejected outcomes seen by the checker */
    double rate;             /* leadpipe leads/s, median */
    double passthrough_rate; /* raw pass-through msgs/s, median */
    double cpu_ns_per_lead;  /* process CPU minus the bench's own feeder and checker */
    double passthrough_cpu_ns;
    lp_bench_latency lat, passthrough_lat;
    double runs[LP_BENCH_RUNS_MAX], passthrough_runs[LP_BENCH_RUNS_MAX];
    int nruns;
} lp_bench_e2e;

typedef struct lp_bench_scale {
    int threads;
    double rate;       /* leads/s over all threads, median */
    double efficiency; /* rate / (threads * rate at 1 thread) */
    double runs[LP_BENCH_RUNS_MAX];
    int nruns;
} lp_bench_scale;

/* Memory of the process, MiB. */
typedef struct lp_bench_mem {
    double rss;      /* VmRSS now */
    double hwm;      /* VmHWM: peak RSS */
    double maxrss;   /* getrusage ru_maxrss */
} lp_bench_mem;

typedef struct lp_bench_report {
    lp_bench_opts opts;
    char pipeline[64], pipeline_version[24];
    lp_bench_row rows[LP_BENCH_ROWS_MAX]; /* baseline, codec, stages..., chain */
    int nrows;
    lp_bench_latency chain_lat; /* per lead, decode -> outputs encoded (sampled) */
    /* Enrichment in the chain, over every run: leads answered from the cache,
     * and leads that missed and would have waited on a provider (the bench
     * rejects those instead). Both 0 when the pipeline does not enrich. */
    uint64_t chain_enrich_cached, chain_enrich_parked;
    lp_bench_e2e e2e[LP_BENCH_THREADS_MAX];
    int ne2e;
    lp_bench_scale scale[LP_BENCH_THREADS_MAX];
    int nscale;
    lp_bench_mem mem;
    double e2e_peak_rss; /* VmHWM after the e2e bench, MiB; 0 if it did not run */
} lp_bench_report;

/* Fills o with the defaults: 2,000,000 leads, 5 runs, threads 1,2, ... */
void lp_bench_opts_init(lp_bench_opts *o);

/* Clears a report and copies o into it. */
void lp_bench_report_init(lp_bench_report *rep, const lp_bench_opts *o);

/*
 * Runs the in-memory stages bench and appends its rows to rep. Returns
 * LP_OK, or the error that stopped it (the pipeline or schema would not
 * load, memory ran out) with a message on stderr.
 */
lp_err_t lp_bench_stages(lp_bench_report *rep);

/* Runs the in-memory chain on each thread count of rep->opts.threads. */
lp_err_t lp_bench_scaling(lp_bench_report *rep);

/* Runs e2e and the pass-through baseline on each thread count. */
lp_err_t lp_bench_e2e_run(lp_bench_report *rep);

/*
 * Runs the soak: opts.soak_rate leads/s for opts.soak_seconds through the
 * embedded broker on opts.threads[0] threads, printing a status line with
 * RSS to out every 10 s, and min/max/slope of RSS at the end.
 */
lp_err_t lp_bench_soak(lp_bench_report *rep, FILE *out);

/* The row called name, or NULL. */
const lp_bench_row *lp_bench_row_find(const lp_bench_report *rep, const char *name);

/* Samples the process's memory into m. */
void lp_bench_mem_sample(lp_bench_mem *m);

/* Median of n values (n >= 1); sorts v. */
double lp_bench_median(double *v, int n);

/* Monotonic clock, nanoseconds. */
uint64_t lp_bench_now_ns(void);

/* This thread's CPU time, nanoseconds. */
uint64_t lp_bench_thread_cpu_ns(void);

/* The process's CPU time (user + system, every thread), nanoseconds. */
uint64_t lp_bench_process_cpu_ns(void);

/*
 * Percentiles of n latency samples in nanoseconds (sorted in place) into
 * out, in microseconds.
 */
void lp_bench_latency_from(uint64_t *ns, uint64_t n, lp_bench_latency *out);

/* Prints the tables of every bench that ran. */
void lp_bench_print(const lp_bench_report *rep, FILE *f);

/* Writes the report as JSON (schema in bench/README.md). LP_OK or LP_E_IO. */
lp_err_t lp_bench_write_json(const lp_bench_report *rep, const char *path);

/*
 * Draws a PNG of throughput by stage and by thread count with gnuplot
 * (a data file and a script in a temporary directory). LP_OK, or LP_E_IO
 * when gnuplot is missing or fails.
 */
lp_err_t lp_bench_plot(const lp_bench_report *rep, const char *path);

#endif
