/*
 * bench.c - the report of `leadpipe bench`: clocks, memory, medians and
 * percentiles, the tables, the JSON file and the gnuplot PNG. The benches
 * themselves live in bench_stages.c and bench_e2e.c.
 *
 * The JSON schema (version 1) is documented in bench/README.md. Fields are
 * only ever added to it; a change of meaning bumps "version".
 *
 * Threads: the clock and memory helpers may be called from any thread; the
 * report functions belong to the thread that owns the report.
 */
#include "bench.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void lp_bench_opts_init(lp_bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->leads = 2000000;
    o->runs = 5;
    o->batch = 16384;
    o->seed = 1;
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->nthreads = 2;
    o->partitions = 0; /* e2e: the largest thread count */
    o->window = 10000;
    o->soak_seconds = 600;
    o->soak_rate = 20000;
}

void lp_bench_report_init(lp_bench_report *rep, const lp_bench_opts *o)
{
    memset(rep, 0, sizeof(*rep));
    rep->opts = *o;
}

const lp_bench_row *lp_bench_row_find(const lp_bench_report *rep, const char *name)
{
    for (int i = 0; i < rep->nrows; i++)
        if (!strcmp(rep->rows[i].name, name))
            return &rep->rows[i];
    return NULL;
}

/* ---- clocks and memory --------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lp_bench_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t lp_bench_thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t lp_bench_process_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return us * 1000u;
}

/* Reads "Name:   1234 kB" from /proc/self/status, in MiB; 0 when absent. */
static double status_mib(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(name);
    double mib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, name, n) && line[n] == ':') {
            mib = strtod(line + n + 1, NULL) / 1024.0;
            break;
        }
    if (f)
        fclose(f);
    return mib;
}

void lp_bench_mem_sample(lp_bench_mem *m)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m->maxrss = (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
    m->rss = status_mib("VmRSS");
    m->hwm = status_mib("VmHWM");
}

/* ---- statistics ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double lp_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The q-quantile (nearest rank) of n sorted samples, in microseconds. */
static double quantile_us(const uint64_t *s, uint64_t n, double q)
{
    uint64_t i = (uint64_t)(q * (double)n);
    return (double)s[i < n ? i : n - 1] / 1000.0;
}

void lp_bench_latency_from(uint64_t *ns, uint64_t n, lp_bench_latency *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return;
    qsort(ns, n, sizeof(uint64_t), cmp_u64);
    out->p50 = quantile_us(ns, n, 0.50);
    out->p99 = quantile_us(ns, n, 0.99);
    out->p999 = quantile_us(ns, n, 0.999);
    out->max = (double)ns[n - 1] / 1000.0;
    out->samples = n;
}

/*
 * How warm the enrichment cache was for the chain. A miss would wait on a
 * provider, which the in-memory bench does not do: such leads are rejected
 * early, so a cold cache makes the chain look faster than it is.
 */
static void print_chain_enrich(const lp_bench_report *rep, FILE *f)
{
    uint64_t cached = rep->chain_enrich_cached, parked = rep->chain_enrich_parked;
    if (!cached && !parked)
        return;
    fprintf(f, "chain enrichment: %.1f%% of looked-up leads answered from the cache (%llu), "
               "%llu missed%s\n",
            100.0 * (double)cached / (double)(cached + parked), (unsigned long long)cached,
            (unsigned long long)parked,
            parked ? " and were rejected, not timed with a provider (warm the cache: "
                     "bench/README.md)"
                   : "");
}

/* ---- tables -------------------------------------------------------------- */

static void print_stages(const lp_bench_report *rep, FILE *f)
{
    const lp_bench_row *base = lp_bench_row_find(rep, "generic");
    fprintf(f, "\nin memory, 1 thread, %llu leads x %d runs (median)\n",
            (unsigned long long)rep->opts.leads, rep->opts.runs);
    fprintf(f, "%-10s %-8s %12s %10s %10s %9s %14s\n", "stage", "kind", "leads/s", "ns/lead",
            "cpu ns", "x base", "headroom");
    for (int i = 0; i < rep->nrows; i++) {
        const lp_bench_row *r = &rep->rows[i];
        char ratio[16] = "-";
        if (base && base->rate > 0 && (!strcmp(r->kind, "chain") || !strcmp(r->kind, "codec")))
            snprintf(ratio, sizeof(ratio), "%.2fx", r->rate / base->rate);
        fprintf(f, "%-10s %-8s %12.0f %10.1f %10.1f %9s %13.3gx\n", r->name, r->kind, r->rate,
                r->ns_per_lead, r->cpu_ns_per_lead, ratio, r->rate / LP_BENCH_TARGET_PER_S);
    }
    if (rep->chain_lat.samples)
        fprintf(f, "chain latency per lead (sampled): p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n",
                rep->chain_lat.p50, rep->chain_lat.p99, rep->chain_lat.p999);
    print_chain_enrich(rep, f);
}

static void print_scaling(const lp_bench_report *rep, FILE *f)
{
    fprintf(f, "\nscaling, in-memory chain, %llu leads per run (median of %d)\n",
            (unsigned long long)rep->opts.leads, rep->opts.runs);
    fprintf(f, "%-8s %12s %10s %12s\n", "threads", "leads/s", "speedup", "efficiency");
    for (int i = 0; i < rep->nscale; i++) {
        const lp_bench_scale *s = &rep->scale[i];
        double one = rep->scale[0].rate;
        fprintf(f, "%-8d %12.0f %9.2fx %11.1f%%\n", s->threads, s->rate,
                one > 0 ? s->rate / one : 0, 100 * s->efficiency);
    }
}

static void print_e2e(const lp_bench_report *rep, FILE *f)
{
    fprintf(f, "\nend to end through the embedded broker, %llu leads per run (median of %d)\n",
            (unsigned long long)rep->opts.leads, rep->opts.runs);
    fprintf(f, "%-8s %-12s %12s %10s %10s %10s %10s %8s %14s\n", "threads", "path", "leads/s",
            "cpu ns", "p50 ms", "p99 ms", "p99.9 ms", "x raw", "headroom");
    for (int i = 0; i < rep->ne2e; i++) {
        const lp_bench_e2e *e = &rep->e2e[i];
        double ratio = e->passthrough_rate > 0 ? e->rate / e->passthrough_rate : 0;
        fprintf(f, "%-8d %-12s %12.0f %10.0f %10.2f %10.2f %10.2f %7.2fx %13.3gx\n", e->threads,
                "leadpipe", e->rate, e->cpu_ns_per_lead, e->lat.p50 / 1000, e->lat.p99 / 1000,
                e->lat.p999 / 1000, ratio, e->rate / LP_BENCH_TARGET_PER_S);
        fprintf(f, "%-8d %-12s %12.0f %10.0f %10.2f %10.2f %10.2f %8s %14s\n", e->threads,
                "passthrough", e->passthrough_rate, e->passthrough_cpu_ns,
                e->passthrough_lat.p50 / 1000, e->passthrough_lat.p99 / 1000,
                e->passthrough_lat.p999 / 1000, "1.00x", "-");
    }
}

void lp_bench_print(const lp_bench_report *rep, FILE *f)
{
    fprintf(f, "leadpipe bench: pipeline '%s' (%s); target %.0f leads/day = %.4f leads/s\n",
            rep->pipeline, rep->pipeline_version, LP_BENCH_TARGET_PER_DAY,
            LP_BENCH_TARGET_PER_S);
    if (rep->nrows)
        print_stages(rep, f);
    if (rep->nscale)
        print_scaling(rep, f);
    if (rep->ne2e)
        print_e2e(rep, f);
    fprintf(f, "\nmemory: peak RSS %.1f MiB (VmHWM %.1f MiB), current RSS %.1f MiB",
            rep->mem.maxrss, rep->mem.hwm, rep->mem.rss);
    if (rep->e2e_peak_rss > 0)
        fprintf(f, "; peak after e2e %.1f MiB", rep->e2e_peak_rss);
    fprintf(f, "\n");
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *runs_json(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *latency_json(const lp_bench_latency *l)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:I}", "p50", l->p50, "p99", l->p99, "p999", l->p999,
                     "max", l->max, "samples", (json_int_t)l->samples);
}

static json_t *machine_json(const lp_bench_report *rep)
{
    struct utsname u;
    char model[256] = "unknown", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    if (uname(&u))
        memset(&u, 0, sizeof(u));
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
                     "cpu_model", model, "kernel", u.release, "arch", u.machine, "leadpipe",
                     LP_VERSION, "pipeline", rep->pipeline);
}

static json_t *row_json(const lp_bench_row *r, const lp_bench_row *base)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:f,s:f,s:f,s:f}", "name", r->name, "kind", r->kind,
                          "leads", (json_int_t)r->leads, "leads_per_s", r->rate, "ns_per_lead",
                          r->ns_per_lead, "cpu_ns_per_lead", r->cpu_ns_per_lead, "headroom",
                          r->rate / LP_BENCH_TARGET_PER_S);
    json_object_set_new(o, "runs", runs_json(r->runs, r->nruns));
    if (base && base->rate > 0)
        json_object_set_new(o, "ratio_vs_baseline", json_real(r->rate / base->rate));
    return o;
}

static json_t *stages_json(const lp_bench_report *rep, json_t **chain)
{
    const lp_bench_row *base = lp_bench_row_find(rep, "generic");
    json_t *a = json_array();
    *chain = json_null();
    for (int i = 0; i < rep->nrows; i++) {
        const lp_bench_row *r = &rep->rows[i];
        if (strcmp(r->kind, "chain")) {
            json_array_append_new(a, row_json(r, base));
            continue;
        }
        json_decref(*chain);
        *chain = row_json(r, base);
        json_object_set_new(*chain, "baseline_leads_per_s", json_real(base ? base->rate : 0));
        json_object_set_new(*chain, "latency_us", latency_json(&rep->chain_lat));
        json_object_set_new(*chain, "enrich_cached", json_integer((json_int_t)rep->chain_enrich_cached));
        json_object_set_new(*chain, "enrich_missed", json_integer((json_int_t)rep->chain_enrich_parked));
    }
    return a;
}

static json_t *e2e_json(const lp_bench_report *rep)
{
    json_t *a = json_array();
    for (int i = 0; i < rep->ne2e; i++) {
        const lp_bench_e2e *e = &rep->e2e[i];
        json_t *o = json_pack(
            "{s:i,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "threads", e->threads, "leads",
            (json_int_t)e->leads, "outputs", (json_int_t)e->outputs, "leads_per_s", e->rate,
            "passthrough_leads_per_s", e->passthrough_rate, "ratio_vs_passthrough",
            e->passthrough_rate > 0 ? e->rate / e->passthrough_rate : 0.0, "cpu_ns_per_lead",
            e->cpu_ns_per_lead, "passthrough_cpu_ns_per_lead", e->passthrough_cpu_ns, "headroom",
            e->rate / LP_BENCH_TARGET_PER_S);
        json_object_set_new(o, "latency_us", latency_json(&e->lat));
        json_object_set_new(o, "passthrough_latency_us", latency_json(&e->passthrough_lat));
        json_object_set_new(o, "runs", runs_json(e->runs, e->nruns));
        json_object_set_new(o, "passthrough_runs", runs_json(e->passthrough_runs, e->nruns));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *scaling_json(const lp_bench_report *rep)
{
    json_t *a = json_array();
    for (int i = 0; i < rep->nscale; i++) {
        const lp_bench_scale *s = &rep->scale[i];
        json_t *o = json_pack("{s:i,s:f,s:f,s:f}", "threads", s->threads, "leads_per_s", s->rate,
                              "speedup", rep->scale[0].rate > 0 ? s->rate / rep->scale[0].rate : 0,
                              "efficiency", s->efficiency);
        json_object_set_new(o, "runs", runs_json(s->runs, s->nruns));
        json_array_append_new(a, o);
    }
    return a;
}

lp_err_t lp_bench_write_json(const lp_bench_report *rep, const char *path)
{
    json_t *chain;
    json_t *stages = stages_json(rep, &chain);
    json_t *root = json_pack(
        "{s:i,s:o,s:f,s:f,s:{s:I,s:i,s:I,s:s},s:o,s:o,s:o,s:o}", "version", 1, "machine",
        machine_json(rep), "target_leads_per_day", LP_BENCH_TARGET_PER_DAY, "target_leads_per_s",
        LP_BENCH_TARGET_PER_S, "config", "leads", (json_int_t)rep->opts.leads, "runs",
        rep->opts.runs, "seed", (json_int_t)rep->opts.seed, "pipeline_version",
        rep->pipeline_version, "stages", stages, "chain", chain, "e2e", e2e_json(rep), "scaling",
        scaling_json(rep));
    if (!root)
        return LP_E_NOMEM;
    json_object_set_new(root, "memory",
                        json_pack("{s:f,s:f,s:f,s:f}", "peak_rss_mib", rep->mem.maxrss,
                                  "vmhwm_mib", rep->mem.hwm, "rss_mib", rep->mem.rss,
                                  "e2e_peak_rss_mib", rep->e2e_peak_rss));
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (rc) {
        fprintf(stderr, "leadpipe bench: cannot write %s\n", path);
        return LP_E_IO;
    }
    return LP_OK;
}

/* ---- plot ---------------------------------------------------------------- */

/* Writes the two data files the script plots; false when one cannot be written. */
static bool plot_data(const lp_bench_report *rep, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/stages.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    for (int i = 0; i < rep->nrows; i++)
        fprintf(f, "\"%s\" %.1f\n", rep->rows[i].name, rep->rows[i].rate / 1e6);
    if (rep->nrows == 0)
        fprintf(f, "\"none\" 0\n");
    fclose(f);
    snprintf(path, sizeof(path), "%s/scaling.dat", dir);
    if (!(f = fopen(path, "w")))
        return false;
    for (int i = 0; i < rep->nscale; i++)
        fprintf(f, "%d %.4f %.4f\n", rep->scale[i].threads, rep->scale[i].rate / 1e6,
                rep->scale[0].rate * rep->scale[i].threads / 1e6);
    for (int i = 0; i < rep->ne2e; i++)
        fprintf(f, "# e2e %d %.4f %.4f\n", rep->e2e[i].threads, rep->e2e[i].rate / 1e6,
                rep->e2e[i].passthrough_rate / 1e6);
    if (rep->nscale == 0)
        fprintf(f, "1 0 0\n");
    fclose(f);
    return true;
}

static bool plot_script(const char *dir, const char *png)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/plot.gp", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f,
            "set terminal pngcairo size 1200,500 noenhanced\n"
            "set output '%s'\n"
            "set multiplot layout 1,2 title 'leadpipe bench'\n"
            "set style fill solid 0.7\nset boxwidth 0.7\nset grid ytics\n"
            "set title 'in memory, one thread'\nset ylabel 'million leads/s'\n"
            "set xtics rotate by -30\nset yrange [0:*]\n"
            "plot '%s/stages.dat' using 0:2:xtic(1) with boxes notitle\n"
            "set title 'scaling of the chain'\nset xlabel 'threads'\nset xtics norotate 1\n"
            "plot '%s/scaling.dat' using 1:2 with linespoints lw 2 title 'measured', "
            "'' using 1:3 with lines dt 2 title 'linear'\n"
            "unset multiplot\n",
            png, dir, dir);
    fclose(f);
    return true;
}

/* Runs gnuplot on the script; png output falls back to the png terminal. */
static bool run_gnuplot(const char *dir)
{
    char script[4096];
    snprintf(script, sizeof(script), "%s/plot.gp", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"stages.dat", "scaling.dat", "plot.gp"};
    char path[4096];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

lp_err_t lp_bench_plot(const lp_bench_report *rep, const char *path)
{
    char dir[] = "/tmp/leadpipe-plot-XXXXXX";
    if (!mkdtemp(dir))
        return LP_E_IO;
    lp_err_t rc = LP_OK;
    if (!plot_data(rep, dir) || !plot_script(dir, path) || !run_gnuplot(dir)) {
        fprintf(stderr, "leadpipe bench: gnuplot could not draw %s (is gnuplot installed?)\n",
                path);
        rc = LP_E_IO;
    }
    remove_dir(dir);
    return rc;
}
