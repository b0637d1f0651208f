/*
 * bench_stages.c - the in-memory benches: `bench stages` and `bench scaling`.
 *
 * Leads are generated in batches (opts.batch leads, Avro-encoded into one
 * reused buffer), so memory stays bounded whatever --leads says; generating
 * a batch is never timed. On each batch, one run measures, in this order:
 *   generic  avro-c generic decode + encode (the baseline, codec.h)
 *   codec    the fast codec: decode + encode of the lead
 *   chain    decode -> lp_pipeline_process -> encode the routed (or
 *            rejected) record and its nurture tasks, one lead at a time,
 *            the way the runtime does it
 *   stages   every lead of the batch decoded (untimed), then each stage in
 *            chain order timed alone over the leads still in play: stage k
 *            sees exactly what stages < k made of the batch, as in the chain
 * Each run loads fresh pipelines (one for the chain, one for the stages), so
 * the dedupe table starts empty every run and grows over the run's leads as
 * it would in production. A lead's processing clock is its received_at plus
 * one second: the bench replays a live stream.
 *
 * Scaling: one shared pipeline, N threads, each with its own worker and
 * generator. Threads generate a batch, meet at a barrier, run the chain,
 * meet again; a round lasts as long as its slowest thread, so load
 * imbalance and contention (the dedupe stripes) count against the rate.
 * Each thread allocates its own state on its own thread (see sc_thread), so
 * that the threads share no written cache line but the dedupe table's, as
 * the runtime's workers do.
 *
 * Threads: lp_bench_stages() runs on the caller's thread; lp_bench_scaling()
 * starts and joins its own.
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "encode.h"
#include "leadgen.h"

/* Rows of the stages table, in print order. */
enum {
    ROW_GENERIC,
    ROW_CODEC,
    ROW_STAGE0, /* LP_STAGE_VALIDATE .. LP_STAGE_NURTURE follow */
    ROW_CHAIN = ROW_STAGE0 + (LP_STAGE_NURTURE - LP_STAGE_VALIDATE + 1),
    ROW_COUNT
};

#define LAT_EVERY 16 /* one chain lead in this many is timed on its own */

/* A batch of generated, Avro-encoded leads. */
typedef struct bs_batch {
    lp_leadgen *gen;
    lp_arena mem; /* the generator's strings, reset per batch */
    lp_buf enc;   /* the encoded leads, back to back */
    size_t *off;
    uint32_t *len;
    uint32_t n, cap;
    uint64_t first; /* stream index of the batch's first lead */
} bs_batch;

/* Time spent on one row during one run. */
typedef struct bs_acc {
    uint64_t ns, cpu, leads;
} bs_acc;

/* Everything one run of `bench stages` needs. */
/* What enrichment did for the chain's leads: a warm cache answers them all. */
typedef struct bs_enrich_tally {
    uint64_t cached, parked;
} bs_enrich_tally;

typedef struct bs_run {
    lp_pipeline *pl_chain, *pl_stages;
    lp_worker *w_chain, *w_stages;
    lp_run_info ri;
    lp_codec_generic *generic;
    lp_arena codec_mem;
    lp_buf out;
    lp_record *recs;
    bool absent[LP_STAGE_COUNT]; /* stages the chain does not have */
    bs_acc acc[ROW_COUNT];
    uint64_t *lat; /* chain latency samples, ns */
    uint64_t nlat, cap_lat;
    bs_enrich_tally enrich; /* the chain's leads, summed over runs */
} bs_run;

static const char *const row_names[ROW_COUNT] = {
    [ROW_GENERIC] = "generic",      [ROW_CODEC] = "codec",
    [ROW_STAGE0 + 0] = "validate",  [ROW_STAGE0 + 1] = "dedupe",
    [ROW_STAGE0 + 2] = "enrich",    [ROW_STAGE0 + 3] = "score",
    [ROW_STAGE0 + 4] = "qualify",   [ROW_STAGE0 + 5] = "llm",
    [ROW_STAGE0 + 6] = "route",     [ROW_STAGE0 + 7] = "nurture",
    [ROW_CHAIN] = "chain",
};

/* ---- batches ------------------------------------------------------------- */

static lp_err_t batch_init(bs_batch *b, uint32_t cap, uint64_t seed)
{
    lp_leadgen_opts go;
    lp_leadgen_opts_init(&go);
    go.seed = seed;
    memset(b, 0, sizeof(*b));
    lp_arena_init(&b->mem, 1 << 20);
    lp_buf_init(&b->enc);
    b->gen = lp_leadgen_new(&go);
    b->off = malloc(cap * sizeof(*b->off));
    b->len = malloc(cap * sizeof(*b->len));
    b->cap = cap;
    return b->gen && b->off && b->len ? LP_OK : LP_E_NOMEM;
}

static void batch_free(bs_batch *b)
{
    lp_leadgen_free(b->gen);
    lp_arena_free(&b->mem);
    lp_buf_free(&b->enc);
    free(b->off);
    free(b->len);
}

/* Generates and encodes the next n (<= cap) leads of the stream. */
static lp_err_t batch_fill(bs_batch *b, uint32_t n)
{
    lp_lead l;
    b->first += b->n;
    b->n = 0;
    lp_buf_reset(&b->enc);
    lp_arena_reset(&b->mem);
    for (uint32_t i = 0; i < n; i++) {
        lp_leadgen_next(b->gen, &l, &b->mem);
        size_t start = b->enc.len;
        if (lp_codec_encode_lead(&l, &b->enc) != LP_OK)
            return LP_E_NOMEM;
        b->off[i] = start;
        b->len[i] = (uint32_t)(b->enc.len - start);
        b->n++;
    }
    return LP_OK;
}

static const char *batch_lead(const bs_batch *b, uint32_t i)
{
    return b->enc.data + b->off[i];
}

/* ---- one lead through the chain ------------------------------------------ */

/* Encodes a finished record's outputs into out, one after the other. */
static lp_err_t emit(const lp_record *r, const lp_run_info *ri, lp_buf *out)
{
    lp_buf_reset(out);
    if (r->err != LP_OK)
        return lp_encode_rejected_avro(r, ri, out);
    lp_err_t rc = lp_encode_routed_avro(r, ri, out);
    for (uint16_t i = 0; rc == LP_OK && i < r->ntasks; i++) {
        lp_buf_reset(out);
        rc = lp_encode_task_avro(r, &r->tasks[i], ri, out);
    }
    return rc;
}

/* Decodes (buf, len) into r as the runtime does; the clock is received_at + 1 s. */
static void decode_record(lp_record *r, const char *buf, uint32_t len, uint64_t idx, lp_arena *a)
{
    char why[160];
    lp_record_init(r);
    r->raw = (lp_str){buf, len};
    r->origin = (lp_origin){"bench", -1, (int64_t)idx + 1};
    if (lp_codec_decode_lead(buf, len, &r->lead, a, why, sizeof(why)) != LP_OK) {
        lp_record_reject(r, LP_STAGE_DECODE, LP_E_AVRO_DECODE, lp_arena_strndup(a, why, strlen(why)));
        return;
    }
    if (lp_lead_has(&r->lead, LP_F_RECEIVED_AT))
        r->processed_at_ms = r->lead.v[LP_F_RECEIVED_AT].i + 1000;
}

/*
 * One lead, decode to encoded outputs: the unit the chain rate counts. A lead
 * that would wait on slow I/O (a cache miss going to a provider) is rejected
 * instead, and counted in tally when one is given.
 */
static lp_err_t chain_one(const lp_pipeline *pl, lp_worker *w, const lp_run_info *ri,
                          const char *buf, uint32_t len, uint64_t idx, lp_buf *out,
                          bs_enrich_tally *tally)
{
    lp_record r;
    decode_record(&r, buf, len, idx, lp_worker_arena(w));
    if (lp_pipeline_process(pl, w, &r) == LP_E_PARK) {
        if (tally)
            tally->parked++;
        lp_record_reject(&r, (lp_stage_id)r.next_stage, LP_E_INTERNAL, "parked in a bench");
    } else if (tally && r.enrich_status == LP_AUX_CACHED) {
        tally->cached++;
    }
    return emit(&r, ri, out);
}

/* ---- timed loops ----------------------------------------------------------- */

static void acc_add(bs_acc *a, uint64_t t0, uint64_t c0, uint64_t leads)
{
    a->ns += lp_bench_now_ns() - t0;
    a->cpu += lp_bench_thread_cpu_ns() - c0;
    a->leads += leads;
}

static lp_err_t time_generic(bs_run *run, const bs_batch *b)
{
    uint64_t t0 = lp_bench_now_ns(), c0 = lp_bench_thread_cpu_ns();
    for (uint32_t i = 0; i < b->n; i++) {
        lp_buf_reset(&run->out);
        lp_err_t rc = lp_codec_generic_roundtrip(run->generic, batch_lead(b, i), b->len[i],
                                                 &run->out);
        if (rc != LP_OK)
            return rc;
    }
    acc_add(&run->acc[ROW_GENERIC], t0, c0, b->n);
    return LP_OK;
}

static lp_err_t time_codec(bs_run *run, const bs_batch *b)
{
    lp_lead l;
    lp_arena_reset(&run->codec_mem);
    uint64_t t0 = lp_bench_now_ns(), c0 = lp_bench_thread_cpu_ns();
    for (uint32_t i = 0; i < b->n; i++) {
        lp_buf_reset(&run->out);
        lp_err_t rc = lp_codec_decode_lead(batch_lead(b, i), b->len[i], &l, &run->codec_mem,
                                           NULL, 0);
        if (rc != LP_OK || (rc = lp_codec_encode_lead(&l, &run->out)) != LP_OK)
            return rc;
    }
    acc_add(&run->acc[ROW_CODEC], t0, c0, b->n);
    return LP_OK;
}

/* Times one lead on its own; stores the sample when there is room. */
static lp_err_t chain_sampled(bs_run *run, const bs_batch *b, uint32_t i)
{
    uint64_t t = lp_bench_now_ns();
    lp_err_t rc = chain_one(run->pl_chain, run->w_chain, &run->ri, batch_lead(b, i), b->len[i],
                            b->first + i, &run->out, &run->enrich);
    if (run->nlat < run->cap_lat)
        run->lat[run->nlat++] = lp_bench_now_ns() - t;
    return rc;
}

static lp_err_t time_chain(bs_run *run, const bs_batch *b)
{
    lp_err_t rc = LP_OK;
    lp_arena_reset(lp_worker_arena(run->w_chain));
    uint64_t t0 = lp_bench_now_ns(), c0 = lp_bench_thread_cpu_ns();
    for (uint32_t i = 0; i < b->n && rc == LP_OK; i++)
        rc = i % LAT_EVERY ? chain_one(run->pl_chain, run->w_chain, &run->ri, batch_lead(b, i),
                                       b->len[i], b->first + i, &run->out, &run->enrich)
                           : chain_sampled(run, b, i);
    acc_add(&run->acc[ROW_CHAIN], t0, c0, b->n);
    return rc;
}

static bool still_in_play(const lp_record *r)
{
    return r->err == LP_OK && r->disposition != LP_DISP_DUPLICATE;
}

/* Runs stage s alone over the batch's records still in play. */
static void time_stage(bs_run *run, uint32_t n, lp_stage_id s)
{
    uint64_t live = 0;
    uint64_t t0 = lp_bench_now_ns(), c0 = lp_bench_thread_cpu_ns();
    for (uint32_t i = 0; i < n; i++) {
        lp_record *r = &run->recs[i];
        if (!still_in_play(r))
            continue;
        lp_pipeline_run_stage(run->pl_stages, run->w_stages, r, s);
        live++;
    }
    acc_add(&run->acc[ROW_STAGE0 + (s - LP_STAGE_VALIDATE)], t0, c0, live);
}

static void time_stages(bs_run *run, const bs_batch *b)
{
    lp_arena *a = lp_worker_arena(run->w_stages);
    lp_arena_reset(a);
    for (uint32_t i = 0; i < b->n; i++)
        decode_record(&run->recs[i], batch_lead(b, i), b->len[i], b->first + i, a);
    for (int s = LP_STAGE_VALIDATE; s <= LP_STAGE_NURTURE; s++)
        if (!run->absent[s])
            time_stage(run, b->n, (lp_stage_id)s);
}

/* ---- runs ---------------------------------------------------------------- */

static lp_err_t load_pipeline(const lp_bench_opts *o, lp_pipeline **pl)
{
    int nerr = 0;
    lp_err_t rc = lp_pipeline_load(o->pipeline_path, stderr, pl, &nerr);
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe bench: cannot load %s\n", o->pipeline_path);
    return rc;
}

static lp_err_t run_open(bs_run *run, const lp_bench_opts *o)
{
    lp_err_t rc;
    if ((rc = load_pipeline(o, &run->pl_chain)) || (rc = load_pipeline(o, &run->pl_stages)))
        return rc;
    run->w_chain = lp_worker_new(run->pl_chain);
    run->w_stages = lp_worker_new(run->pl_stages);
    run->ri = (lp_run_info){lp_pipeline_name(run->pl_chain), lp_pipeline_version(run->pl_chain)};
    memset(run->acc, 0, sizeof(run->acc));
    for (int s = 0; s < LP_STAGE_COUNT; s++) /* enrich and llm until configured */
        run->absent[s] = !lp_pipeline_has_stage(run->pl_stages, (lp_stage_id)s);
    return run->w_chain && run->w_stages ? LP_OK : LP_E_NOMEM;
}

static void run_close(bs_run *run)
{
    lp_worker_free(run->w_chain);
    lp_worker_free(run->w_stages);
    lp_pipeline_free(run->pl_chain);
    lp_pipeline_free(run->pl_stages);
    run->w_chain = run->w_stages = NULL;
    run->pl_chain = run->pl_stages = NULL;
}

/* One run over opts.leads leads, every measurement interleaved per batch. */
static lp_err_t run_once(bs_run *run, const lp_bench_opts *o, bs_batch *b)
{
    lp_err_t rc = run_open(run, o);
    b->first = 0;
    b->n = 0;
    for (uint64_t done = 0; rc == LP_OK && done < o->leads; done += b->n) {
        uint64_t left = o->leads - done;
        rc = batch_fill(b, left < o->batch ? (uint32_t)left : o->batch);
        if (rc == LP_OK)
            rc = time_generic(run, b);
        if (rc == LP_OK)
            rc = time_codec(run, b);
        if (rc == LP_OK)
            rc = time_chain(run, b);
        if (rc == LP_OK)
            time_stages(run, b);
    }
    run_close(run);
    return rc;
}

/* Turns run k's accumulators into the per-run rate of each row. */
static void record_run(lp_bench_report *rep, const bs_run *run, int k, bs_acc (*accs)[ROW_COUNT])
{
    for (int i = 0; i < ROW_COUNT; i++) {
        const bs_acc *a = &run->acc[i];
        accs[k][i] = *a;
        rep->rows[i].runs[k] = a->ns ? (double)a->leads * 1e9 / (double)a->ns : 0;
    }
}

/* The run whose rate is nearest to target (the median). */
static int closest_run(const double *runs, int n, double target)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (fabs(runs[k] - target) < fabs(runs[best] - target))
            best = k;
    return best;
}

/* Fills each row from the run whose rate is the median. */
static void finish_rows(lp_bench_report *rep, bs_acc (*accs)[ROW_COUNT], int nruns)
{
    int out = 0;
    for (int i = 0; i < ROW_COUNT; i++) {
        lp_bench_row row = rep->rows[i];
        double sorted[LP_BENCH_RUNS_MAX];
        memcpy(sorted, row.runs, sizeof(double) * (size_t)nruns);
        row.rate = lp_bench_median(sorted, nruns);
        int med = closest_run(row.runs, nruns, row.rate);
        const bs_acc *a = &accs[med][i];
        if (!a->leads)
            continue; /* a stage the pipeline does not have */
        row.nruns = nruns;
        row.leads = a->leads;
        row.ns_per_lead = (double)a->ns / (double)a->leads;
        row.cpu_ns_per_lead = (double)a->cpu / (double)a->leads;
        rep->rows[out++] = row;
    }
    rep->nrows = out;
}

static void rows_init(lp_bench_report *rep)
{
    memset(rep->rows, 0, sizeof(rep->rows));
    for (int i = 0; i < ROW_COUNT; i++) {
        snprintf(rep->rows[i].name, sizeof(rep->rows[i].name), "%s", row_names[i]);
        rep->rows[i].kind = i == ROW_GENERIC ? "baseline"
                            : i == ROW_CODEC ? "codec"
                            : i == ROW_CHAIN ? "chain"
                                             : "stage";
    }
}

static lp_err_t stages_setup(bs_run *run, const lp_bench_opts *o, bs_batch *b)
{
    char err[256];
    memset(run, 0, sizeof(*run));
    lp_arena_init(&run->codec_mem, 1 << 20);
    lp_buf_init(&run->out);
    lp_err_t rc = lp_codec_generic_new(o->schema_path, &run->generic, err, sizeof(err));
    if (rc != LP_OK) {
        fprintf(stderr, "leadpipe bench: %s\n", err);
        return rc;
    }
    run->recs = malloc(o->batch * sizeof(lp_record));
    run->cap_lat = (o->leads / LAT_EVERY + 1) * (uint64_t)o->runs;
    run->lat = malloc(run->cap_lat * sizeof(uint64_t));
    if (!run->recs || !run->lat)
        return LP_E_NOMEM;
    return batch_init(b, o->batch, o->seed);
}

static void stages_teardown(bs_run *run, bs_batch *b)
{
    lp_codec_generic_free(run->generic);
    lp_arena_free(&run->codec_mem);
    lp_buf_free(&run->out);
    free(run->recs);
    free(run->lat);
    batch_free(b);
}

lp_err_t lp_bench_stages(lp_bench_report *rep)
{
    const lp_bench_opts *o = &rep->opts;
    bs_run run;
    bs_batch b;
    bs_acc(*accs)[ROW_COUNT] = calloc((size_t)o->runs, sizeof(*accs));
    lp_err_t rc = accs ? stages_setup(&run, o, &b) : LP_E_NOMEM;
    rows_init(rep);
    for (int k = 0; rc == LP_OK && k < o->runs; k++) {
        if (!o->quiet)
            fprintf(stderr, "bench stages: run %d/%d\n", k + 1, o->runs);
        if ((rc = run_once(&run, o, &b)) == LP_OK)
            record_run(rep, &run, k, accs);
    }
    if (rc == LP_OK) {
        finish_rows(rep, accs, o->runs);
        lp_bench_latency_from(run.lat, run.nlat, &rep->chain_lat);
        rep->chain_enrich_cached = run.enrich.cached;
        rep->chain_enrich_parked = run.enrich.parked;
    } else {
        rep->nrows = 0;
        fprintf(stderr, "leadpipe bench stages: %s\n", lp_err_str(rc));
    }
    stages_teardown(&run, &b);
    free(accs);
    return rc;
}

/* ---- scaling --------------------------------------------------------------- */

typedef struct sc_shared sc_shared;

/*
 * One thread of the scaling bench. Each sits on cache lines of its own, and
 * everything it writes per lead (worker, arena, batch, output buffer) is
 * allocated by the thread itself, so the allocator takes it from that
 * thread's arena: the only memory the threads share while they run is the
 * pipeline, which is read-only but for the dedupe table.
 */
typedef struct sc_thread {
    _Alignas(64) pthread_t th;
    int id;
    sc_shared *sh;
    bs_batch batch;
    lp_worker *w;
    lp_buf out;
    uint64_t dur; /* ns this round */
    lp_err_t err;
} sc_thread;

struct sc_shared {
    const lp_pipeline *pl;
    const lp_bench_opts *o;
    lp_run_info ri;
    pthread_barrier_t bar;
    uint32_t batch;
    uint64_t per_thread; /* leads per thread */
    int n;
    uint64_t wall; /* ns: sum over rounds of the slowest thread */
    sc_thread *t;
};

/* The slowest thread's time this round; thread 0 adds it to the wall time. */
static void sc_round_end(sc_shared *sh)
{
    uint64_t max = 0;
    for (int i = 0; i < sh->n; i++)
        if (sh->t[i].dur > max)
            max = sh->t[i].dur;
    sh->wall += max;
}

static lp_err_t sc_thread_init(sc_thread *t)
{
    lp_buf_init(&t->out);
    t->w = lp_worker_new(t->sh->pl);
    lp_err_t rc = batch_init(&t->batch, t->sh->batch, t->sh->o->seed + (uint64_t)t->id * 7919);
    return rc == LP_OK && !t->w ? LP_E_NOMEM : rc;
}

static void sc_thread_free(sc_thread *t)
{
    batch_free(&t->batch);
    lp_worker_free(t->w);
    lp_buf_free(&t->out);
}

/* Runs this thread's rounds: generate a batch (untimed), then the chain on
 * it, in step with the other threads. A thread that failed to set up still
 * meets every barrier, with nothing to do. */
static void *sc_main(void *arg)
{
    sc_thread *t = arg;
    sc_shared *sh = t->sh;
    uint64_t rounds = (sh->per_thread + sh->batch - 1) / sh->batch;
    lp_err_t err = sc_thread_init(t);
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t left = sh->per_thread - r * sh->batch;
        if (err == LP_OK)
            err = batch_fill(&t->batch, left < sh->batch ? (uint32_t)left : sh->batch);
        if (err == LP_OK)
            lp_arena_reset(lp_worker_arena(t->w));
        uint32_t n = err == LP_OK ? t->batch.n : 0;
        pthread_barrier_wait(&sh->bar);
        uint64_t t0 = lp_bench_now_ns();
        for (uint32_t i = 0; i < n && err == LP_OK; i++)
            err = chain_one(sh->pl, t->w, &sh->ri, batch_lead(&t->batch, i), t->batch.len[i],
                            t->batch.first + i, &t->out, NULL);
        t->dur = lp_bench_now_ns() - t0;
        if (pthread_barrier_wait(&sh->bar) == PTHREAD_BARRIER_SERIAL_THREAD)
            sc_round_end(sh);
    }
    sc_thread_free(t);
    t->err = err;
    return NULL;
}

/* One run of the chain on n threads over opts.leads leads; the rate in *rate. */
static lp_err_t scale_once(const lp_bench_opts *o, int n, double *rate)
{
    sc_shared sh = {.o = o, .batch = o->batch, .n = n,
                    .per_thread = (o->leads + (uint64_t)n - 1) / (uint64_t)n};
    lp_pipeline *pl = NULL;
    lp_err_t rc = load_pipeline(o, &pl);
    sh.t = rc == LP_OK ? aligned_alloc(_Alignof(sc_thread), (size_t)n * sizeof(sc_thread)) : NULL;
    if (rc != LP_OK || !sh.t) {
        lp_pipeline_free(pl);
        return rc != LP_OK ? rc : LP_E_NOMEM;
    }
    memset(sh.t, 0, (size_t)n * sizeof(sc_thread));
    sh.pl = pl;
    sh.ri = (lp_run_info){lp_pipeline_name(pl), lp_pipeline_version(pl)};
    pthread_barrier_init(&sh.bar, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        sh.t[i].id = i;
        sh.t[i].sh = &sh;
        pthread_create(&sh.t[i].th, NULL, sc_main, &sh.t[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(sh.t[i].th, NULL);
        if (rc == LP_OK)
            rc = sh.t[i].err;
    }
    *rate = sh.wall ? (double)(sh.per_thread * (uint64_t)n) * 1e9 / (double)sh.wall : 0;
    pthread_barrier_destroy(&sh.bar);
    free(sh.t);
    lp_pipeline_free(pl);
    return rc;
}

lp_err_t lp_bench_scaling(lp_bench_report *rep)
{
    const lp_bench_opts *o = &rep->opts;
    lp_err_t rc = LP_OK;
    rep->nscale = 0;
    for (int i = 0; i < o->nthreads && rc == LP_OK; i++) {
        lp_bench_scale *s = &rep->scale[rep->nscale];
        memset(s, 0, sizeof(*s));
        s->threads = o->threads[i];
        for (int k = 0; k < o->runs && rc == LP_OK; k++) {
            if (!o->quiet)
                fprintf(stderr, "bench scaling: %d threads, run %d/%d\n", s->threads, k + 1,
                        o->runs);
            rc = scale_once(o, s->threads, &s->runs[s->nruns++]);
        }
        double sorted[LP_BENCH_RUNS_MAX];
        memcpy(sorted, s->runs, sizeof(double) * (size_t)s->nruns);
        s->rate = lp_bench_median(sorted, s->nruns);
        rep->nscale++;
    }
    for (int i = 0; i < rep->nscale; i++) {
        lp_bench_scale *s = &rep->scale[i];
        double one = rep->scale[0].rate / rep->scale[0].threads; /* per thread */
        s->efficiency = one > 0 ? s->rate / (s->threads * one) : 0;
    }
    return rc;
}
