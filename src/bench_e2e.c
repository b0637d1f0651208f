/*
 * bench_e2e.c - the Kafka benches: `bench e2e` and `bench soak`.
 *
 * Each run starts a fresh embedded broker (broker.h), so runs share no
 * topics, offsets or groups, and creates the topics with enough partitions
 * before any client can auto-create them, and no more: the mock keeps the
 * last 5 MiB of every partition whether anyone reads it or not, so each
 * partition costs up to 5 MiB of RSS. The input topic gets one partition
 * per worker of the largest thread count (unless --partitions says
 * otherwise), routed two: what the checker reads must stay in the log while
 * the window's outcomes wait for it, and two partitions hold about twice a
 * default window of routed records. Nurture tasks (not read) and rejected
 * records (a few percent) get one. Three parties then share the broker:
 *   - the feeder thread generates leads (leadgen.h), gives lead i the id
 *     "bench-%010u" (also the message key), notes the monotonic time just
 *     before producing it, and produces it to the input topic. It produces
 *     while the system consumes: at most opts.window leads may be produced
 *     and not yet seen as outcomes (the mock broker silently drops the
 *     oldest data of a partition past about 5 MiB, so it must never be
 *     preloaded), and in the soak it also keeps to a fixed rate;
 *   - the system under test: lp_runtime_run() on its own thread with a
 *     fresh consumer group, or the raw pass-through (the same number of
 *     consumers in a group, each producing every message unchanged through
 *     one producer configured like the runtime's);
 *   - the checker, on the calling thread, reads the outcome topics (routed
 *     and rejected, or the pass-through topic) by assignment, finds each
 *     outcome's lead by its key and takes latency = now - produce time.
 * Throughput is outcomes over the time from the first to the last outcome
 * the checker saw; nurture tasks are produced but not counted.
 *
 * CPU per lead is the process's CPU time over the run, minus the feeder's
 * and the checker's own thread CPU time: what is left is the system under
 * test plus the mock broker's thread.
 *
 * Threads: the calling thread, the feeder, and the runtime's or the
 * pass-through's threads. Shared counters are atomics; the stamp ring is
 * written by the feeder before a lead is produced and read by the checker
 * after its outcome arrives, ordered through the broker round trip and the
 * release/acquire on `produced`.
 */
#include "bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "broker.h"
#include "codec.h"
#include "leadgen.h"
#include "runtime.h"

#define BE_RING_PER_WINDOW 8   /* produce stamps kept: this many windows' worth */
#define BE_LAT_MAX (1u << 17)  /* latency samples kept per run (p99.9 from 131 of them) */
#define BE_STALL_NS (60ull * 1000000000ull)
#define BE_ID_PREFIX "bench-"
#define BE_ID_LEN 16
#define BE_PT_TOPIC "bench.passthrough"
#define BE_ROUTED_PARTS 2 /* nurture and rejected get one each */

typedef enum be_mode { BE_LEADPIPE, BE_PASSTHROUGH } be_mode;

typedef struct be_run {
    const lp_bench_opts *o;
    lp_pipeline *pl;
    lp_broker *broker;
    const char *brokers, *in_topic;
    be_mode mode;
    int threads;
    char group[96];
    uint64_t n;  /* leads */
    double rate; /* leads/s for the feeder; 0: as fast as the window allows */
    FILE *status; /* soak status lines; NULL: none */
    /* feeder; what it writes per lead sits on a line of its own */
    pthread_t feeder;
    uint64_t *stamp; /* produce time by index & ring_mask */
    uint64_t ring_mask;
    atomic_bool quit;
    uint64_t feeder_cpu;
    lp_err_t feed_err;
    _Alignas(64) _Atomic uint64_t produced;
    /* checker: written per outcome, on lines of their own */
    _Alignas(64) _Atomic uint64_t seen;
    uint8_t *done; /* bitmap: outcome seen */
    uint64_t *lat;
    uint64_t nlat, lat_every;
    uint64_t first_ns, last_ns, dups;
    /* system under test */
    _Alignas(64) volatile sig_atomic_t stop;
    pthread_t sut;
    lp_err_t sut_err;
    /* soak RSS samples */
    double *rss;
    int nrss, cap_rss;
} be_run;

/* ---- clients ------------------------------------------------------------- */

static bool set(rd_kafka_conf_t *c, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(c, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return true;
    fprintf(stderr, "leadpipe bench: %s=%s: %s\n", name, value, err);
    return false;
}

/* A producer set up like the runtime's (idempotent, linger 5 ms, lz4). */
static rd_kafka_t *producer_new(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    bool ok = set(c, "bootstrap.servers", brokers) && set(c, "enable.idempotence", "true") &&
              set(c, "linger.ms", "5") && set(c, "batch.num.messages", "10000") &&
              set(c, "compression.type", "lz4") &&
              set(c, "queue.buffering.max.messages", "200000");
    rd_kafka_t *rk = ok ? rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)) : NULL;
    if (!rk && ok)
        fprintf(stderr, "leadpipe bench: producer: %s\n", err);
    if (!rk && !ok)
        rd_kafka_conf_destroy(c);
    return rk;
}

/*
 * The checker's prefetch queue. librdkafka 2.0 stops fetching a partition
 * once the consumer queue is over queued.max.messages.kbytes and decides
 * again only when its broker thread next wakes, up to 1 s later. The
 * outcomes the checker reads are about twice the size of the input, and with
 * 4 MiB its queue overflowed at every fetch: it stalled, and the bench
 * measured its own checker (1 s at p99, 60K leads/s instead of 120K).
 */
#define CHECKER_QUEUE_KB "32768"

/* A consumer; in a group (subscribe) when group is not NULL. */
static rd_kafka_t *consumer_new(const char *brokers, const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    bool ok = set(c, "bootstrap.servers", brokers) &&
              set(c, "group.id", group ? group : "leadpipe-bench-checker") &&
              set(c, "enable.auto.commit", group ? "true" : "false") &&
              set(c, "auto.offset.reset", "earliest") &&
              set(c, "session.timeout.ms", "6000") && set(c, "fetch.wait.max.ms", "50") &&
              set(c, "queued.max.messages.kbytes", group ? "16384" : CHECKER_QUEUE_KB);
    rd_kafka_t *rk = ok ? rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)) : NULL;
    if (!rk && ok)
        fprintf(stderr, "leadpipe bench: consumer: %s\n", err);
    if (!rk && !ok)
        rd_kafka_conf_destroy(c);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Produces, waiting while the local queue is full. */
static bool produce(rd_kafka_t *p, const char *topic, const void *key, size_t klen,
                    const void *val, size_t vlen)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (!err)
            return true;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "leadpipe bench: produce to %s: %s\n", topic, rd_kafka_err2str(err));
            return false;
        }
        rd_kafka_poll(p, 1);
    }
}

/* ---- feeder -------------------------------------------------------------- */

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* Waits until lead i may be produced: inside the window, and on time at a fixed rate. */
static void feeder_pace(be_run *r, uint64_t i, uint64_t t0)
{
    while (!atomic_load(&r->quit) && i - atomic_load(&r->seen) >= r->o->window)
        sleep_ns(100000);
    if (r->rate <= 0)
        return;
    uint64_t due = t0 + (uint64_t)((double)i * 1e9 / r->rate);
    uint64_t now = lp_bench_now_ns();
    if (due > now)
        sleep_ns(due - now);
}

/*
 * After lead 0, waits for its outcome: the consumer group has joined (about
 * 3 s on the mock broker) before the measured stream starts, and lead 0 is
 * left out of the latency and rate figures.
 */
static void feeder_warm_up(be_run *r, uint64_t *t0)
{
    while (!atomic_load(&r->quit) && atomic_load(&r->seen) == 0)
        sleep_ns(1000000);
    *t0 = lp_bench_now_ns();
}

/* Generates lead i with its bench id and encodes it into out. */
static lp_err_t feeder_lead(lp_leadgen *g, lp_arena *a, uint64_t i, char *id, lp_buf *out)
{
    lp_lead l;
    lp_arena_reset(a);
    lp_leadgen_next(g, &l, a);
    snprintf(id, BE_ID_LEN + 1, BE_ID_PREFIX "%010" PRIu64, (uint64_t)(i % 10000000000ull));
    lp_lead_set_str(&l, LP_F_LEAD_ID, id, BE_ID_LEN);
    lp_buf_reset(out);
    return lp_codec_encode_lead(&l, out);
}

static void *feeder_main(void *arg)
{
    be_run *r = arg;
    lp_leadgen_opts go;
    lp_leadgen_opts_init(&go);
    go.seed = r->o->seed;
    lp_leadgen *g = lp_leadgen_new(&go);
    rd_kafka_t *p = producer_new(r->brokers);
    lp_arena a;
    lp_buf out;
    char id[BE_ID_LEN + 1];
    lp_arena_init(&a, 64 << 10);
    lp_buf_init(&out);
    r->feed_err = g && p ? LP_OK : LP_E_KAFKA;
    uint64_t t0 = lp_bench_now_ns();
    for (uint64_t i = 0; i < r->n && r->feed_err == LP_OK && !atomic_load(&r->quit); i++) {
        feeder_pace(r, i, t0);
        if (i == 1)
            feeder_warm_up(r, &t0);
        if ((r->feed_err = feeder_lead(g, &a, i, id, &out)) != LP_OK)
            break;
        r->stamp[i & r->ring_mask] = lp_bench_now_ns();
        if (!produce(p, r->in_topic, id, BE_ID_LEN, out.data, out.len))
            r->feed_err = LP_E_KAFKA;
        atomic_store_explicit(&r->produced, i + 1, memory_order_release);
        if ((i & 1023) == 0)
            rd_kafka_poll(p, 0);
    }
    if (p) {
        rd_kafka_flush(p, 10000);
        rd_kafka_destroy(p);
    }
    lp_leadgen_free(g);
    lp_arena_free(&a);
    lp_buf_free(&out);
    r->feeder_cpu = lp_bench_thread_cpu_ns();
    return NULL;
}

/* ---- systems under test ---------------------------------------------------- */

static void *runtime_main(void *arg)
{
    be_run *r = arg;
    static const char *const xprops[] = {"consumer.session.timeout.ms=6000"};
    lp_runtime_opts ro = {.pl = r->pl, .brokers = r->brokers, .group = r->group,
                          .threads = r->threads, .xprops = xprops, .nxprops = 1,
                          .stop = &r->stop, .quiet = true};
    lp_runtime_stats st;
    r->sut_err = lp_runtime_run(&ro, &st);
    return NULL;
}

/* The pass-through: one consumer per thread, one shared producer. */
typedef struct be_pt {
    be_run *r;
    rd_kafka_t *producer;
    pthread_t th[LP_BENCH_THREADS_MAX];
} be_pt;

static void *pt_worker(void *arg)
{
    be_pt *pt = arg;
    be_run *r = pt->r;
    rd_kafka_t *c = consumer_new(r->brokers, r->group);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, r->in_topic, RD_KAFKA_PARTITION_UA);
    if (!c || rd_kafka_subscribe(c, t))
        r->sut_err = LP_E_KAFKA;
    rd_kafka_topic_partition_list_destroy(t);
    while (c && !r->stop && r->sut_err == LP_OK) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 20);
        if (m && !m->err &&
            !produce(pt->producer, BE_PT_TOPIC, m->key, m->key_len, m->payload, m->len))
            r->sut_err = LP_E_KAFKA;
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    return NULL;
}

static void *passthrough_main(void *arg)
{
    be_run *r = arg;
    be_pt pt = {.r = r, .producer = producer_new(r->brokers)};
    if (!pt.producer) {
        r->sut_err = LP_E_KAFKA;
        return NULL;
    }
    for (int i = 0; i < r->threads; i++)
        pthread_create(&pt.th[i], NULL, pt_worker, &pt);
    while (!r->stop) {
        rd_kafka_poll(pt.producer, 50); /* delivery reports free queue space */
    }
    for (int i = 0; i < r->threads; i++)
        pthread_join(pt.th[i], NULL);
    rd_kafka_flush(pt.producer, 10000);
    rd_kafka_destroy(pt.producer);
    return NULL;
}

/* ---- checker --------------------------------------------------------------- */

/* The index of a bench lead id ("bench-0000000042"); false for any other key. */
static bool key_index(const void *key, size_t len, uint64_t *idx)
{
    char digits[BE_ID_LEN];
    size_t plen = sizeof(BE_ID_PREFIX) - 1;
    if (len != BE_ID_LEN || memcmp(key, BE_ID_PREFIX, plen))
        return false;
    memcpy(digits, (const char *)key + plen, len - plen);
    digits[len - plen] = '\0';
    char *end;
    unsigned long long v = strtoull(digits, &end, 10);
    if (*end)
        return false;
    *idx = v;
    return true;
}

/* Notes one outcome: first sight of its lead counts, a redelivery does not. */
static void check_outcome(be_run *r, const rd_kafka_message_t *m, uint64_t now)
{
    uint64_t i;
    if (!key_index(m->key, m->key_len, &i) || i >= r->n)
        return;
    if (r->done[i / 8] & (1u << (i % 8))) {
        r->dups++;
        return;
    }
    r->done[i / 8] |= (uint8_t)(1u << (i % 8));
    uint64_t seen = atomic_load(&r->seen) + 1;
    if (i > 0 && i % r->lat_every == 0 && r->nlat < BE_LAT_MAX)
        r->lat[r->nlat++] = now - r->stamp[i & r->ring_mask];
    if (i == 0)
        r->first_ns = now; /* the warm-up lead: the clock starts here */
    r->last_ns = now;
    atomic_store(&r->seen, seen);
}

/* The input topic's partitions: --partitions, or the largest thread count. */
static int input_partitions(const lp_bench_opts *o)
{
    if (o->partitions > 0)
        return o->partitions;
    int parts = 1;
    for (int i = 0; i < o->nthreads; i++)
        if (o->threads[i] > parts)
            parts = o->threads[i];
    return parts;
}

/* Adds every partition of topic to l, from the beginning. */
static void assign_all(rd_kafka_topic_partition_list_t *l, const char *topic, int parts)
{
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
}

static rd_kafka_t *checker_new(const be_run *r)
{
    rd_kafka_t *c = consumer_new(r->brokers, NULL);
    if (!c)
        return NULL;
    const lp_topics *t = lp_pipeline_topics(r->pl);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    if (r->mode == BE_PASSTHROUGH) {
        assign_all(l, BE_PT_TOPIC, input_partitions(r->o));
    } else {
        assign_all(l, t->routed, BE_ROUTED_PARTS);
        assign_all(l, t->rejected, 1);
    }
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    return c;
}

/* Prints a soak status line and keeps the RSS sample. */
static void soak_status(be_run *r, uint64_t t0, uint64_t now)
{
    lp_bench_mem m;
    lp_bench_mem_sample(&m);
    double secs = (double)(now - t0) / 1e9;
    uint64_t seen = atomic_load(&r->seen);
    fprintf(r->status, "soak %6.0fs: %" PRIu64 " produced, %" PRIu64 " out, %.0f leads/s, RSS %.1f MiB\n",
            secs, atomic_load(&r->produced), seen, secs > 0 ? (double)seen / secs : 0, m.rss);
    fflush(r->status);
    if (r->nrss < r->cap_rss)
        r->rss[r->nrss++] = m.rss;
}

/* Reads outcomes until every lead has one; LP_E_KAFKA when they stop coming. */
static lp_err_t checker_run(be_run *r, rd_kafka_t *c)
{
    uint64_t t0 = lp_bench_now_ns(), progress = t0, next_status = t0 + 10000000000ull;
    while (atomic_load(&r->seen) < r->n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        uint64_t now = lp_bench_now_ns();
        if (m && !m->err) {
            check_outcome(r, m, now);
            progress = now;
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (r->status && now >= next_status) {
            soak_status(r, t0, now);
            next_status += 10000000000ull;
        }
        if (now - progress > BE_STALL_NS || r->feed_err != LP_OK || r->sut_err != LP_OK) {
            fprintf(stderr, "leadpipe bench: %" PRIu64 " of %" PRIu64 " outcomes, then none\n",
                    atomic_load(&r->seen), r->n);
            return LP_E_KAFKA;
        }
    }
    return LP_OK;
}

/* ---- one run ----------------------------------------------------------------- */

static lp_err_t run_topics(be_run *r)
{
    const lp_topics *t = lp_pipeline_topics(r->pl);
    int in_parts = input_partitions(r->o);
    lp_err_t rc = lp_broker_create_topic(r->broker, r->in_topic, in_parts);
    const char *outs[] = {t->routed, t->nurture, t->rejected};
    const int out_parts[] = {BE_ROUTED_PARTS, 1, 1};
    for (int i = 0; i < 3 && rc == LP_OK; i++)
        rc = lp_broker_create_topic(r->broker, outs[i], out_parts[i]);
    if (rc == LP_OK && r->mode == BE_PASSTHROUGH)
        rc = lp_broker_create_topic(r->broker, BE_PT_TOPIC, in_parts);
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe bench: %s\n", lp_broker_error(r->broker));
    return rc;
}

static lp_err_t run_open(be_run *r, int k)
{
    int nerr = 0;
    lp_err_t rc = lp_pipeline_load(r->o->pipeline_path, stderr, &r->pl, &nerr);
    if (rc != LP_OK)
        return rc;
    if ((rc = lp_broker_start(1, 0, &r->broker)) != LP_OK)
        return rc;
    r->brokers = lp_broker_bootstraps(r->broker);
    r->in_topic = lp_pipeline_topics(r->pl)->input;
    snprintf(r->group, sizeof(r->group), "leadpipe-bench-%s-%d-%d-%d",
             r->mode == BE_LEADPIPE ? "e2e" : "raw", (int)getpid(), r->threads, k);
    /* lead i's stamp is overwritten when lead i + ring is produced, which
     * the window allows only once ring - window later leads have come out */
    uint64_t ring = 1024;
    while (ring < (uint64_t)BE_RING_PER_WINDOW * r->o->window)
        ring *= 2;
    r->ring_mask = ring - 1;
    r->stamp = malloc(ring * sizeof(uint64_t));
    r->done = calloc(r->n / 8 + 1, 1);
    r->lat_every = r->n / BE_LAT_MAX + 1;
    r->lat = malloc(BE_LAT_MAX * sizeof(uint64_t));
    if (!r->stamp || !r->done || !r->lat)
        return LP_E_NOMEM;
    return run_topics(r);
}

static void run_close(be_run *r)
{
    lp_broker_stop(r->broker);
    lp_pipeline_free(r->pl);
    free(r->stamp);
    free(r->done);
    free(r->lat);
}

/* Starts the feeder and the system under test, checks every outcome, stops all. */
static lp_err_t run_measure(be_run *r, uint64_t *cpu_ns)
{
    uint64_t cpu0 = lp_bench_process_cpu_ns(), ccpu0 = lp_bench_thread_cpu_ns();
    rd_kafka_t *c = checker_new(r);
    if (!c)
        return LP_E_KAFKA;
    pthread_create(&r->sut, NULL, r->mode == BE_LEADPIPE ? runtime_main : passthrough_main, r);
    pthread_create(&r->feeder, NULL, feeder_main, r);
    lp_err_t rc = checker_run(r, c);
    atomic_store(&r->quit, true);
    pthread_join(r->feeder, NULL);
    uint64_t checker_cpu = lp_bench_thread_cpu_ns() - ccpu0;
    uint64_t cpu = lp_bench_process_cpu_ns() - cpu0;
    r->stop = 1;
    pthread_join(r->sut, NULL);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    *cpu_ns = cpu > r->feeder_cpu + checker_cpu ? cpu - r->feeder_cpu - checker_cpu : 0;
    if (rc == LP_OK && (r->feed_err != LP_OK || r->sut_err != LP_OK))
        rc = r->feed_err != LP_OK ? r->feed_err : r->sut_err;
    return rc;
}

/* The result of one run of one mode. */
typedef struct be_result {
    double rate, cpu_ns;
    lp_bench_latency lat;
} be_result;

static lp_err_t run_once(const lp_bench_opts *o, be_mode mode, int threads, int k,
                         be_result *res)
{
    be_run r = {.o = o, .mode = mode, .threads = threads, .n = o->leads};
    uint64_t cpu = 0;
    lp_err_t rc = run_open(&r, k);
    if (rc == LP_OK)
        rc = run_measure(&r, &cpu);
    if (rc == LP_OK) {
        double secs = (double)(r.last_ns - r.first_ns) / 1e9;
        res->rate = secs > 0 ? (double)(r.n - 1) / secs : 0;
        res->cpu_ns = (double)cpu / (double)r.n;
        lp_bench_latency_from(r.lat, r.nlat, &res->lat);
    }
    run_close(&r);
    return rc;
}

/* Runs both modes opts.runs times at one thread count and keeps the medians. */
static lp_err_t e2e_threads(const lp_bench_opts *o, int threads, lp_bench_e2e *e)
{
    be_result res[2][LP_BENCH_RUNS_MAX];
    lp_err_t rc = LP_OK;
    memset(e, 0, sizeof(*e));
    e->threads = threads;
    e->leads = e->outputs = o->leads;
    for (int k = 0; k < o->runs && rc == LP_OK; k++) {
        if (!o->quiet)
            fprintf(stderr, "bench e2e: %d threads, run %d/%d\n", threads, k + 1, o->runs);
        rc = run_once(o, BE_LEADPIPE, threads, k, &res[0][k]);
        if (rc == LP_OK)
            rc = run_once(o, BE_PASSTHROUGH, threads, k, &res[1][k]);
        if (rc == LP_OK) {
            e->runs[k] = res[0][k].rate;
            e->passthrough_runs[k] = res[1][k].rate;
            e->nruns++;
        }
    }
    if (rc != LP_OK)
        return rc;
    double v[LP_BENCH_RUNS_MAX];
    memcpy(v, e->runs, sizeof(double) * (size_t)e->nruns);
    e->rate = lp_bench_median(v, e->nruns);
    memcpy(v, e->passthrough_runs, sizeof(double) * (size_t)e->nruns);
    e->passthrough_rate = lp_bench_median(v, e->nruns);
    int mid = e->nruns / 2; /* latency and CPU: the middle run */
    e->lat = res[0][mid].lat;
    e->passthrough_lat = res[1][mid].lat;
    e->cpu_ns_per_lead = res[0][mid].cpu_ns;
    e->passthrough_cpu_ns = res[1][mid].cpu_ns;
    return LP_OK;
}

lp_err_t lp_bench_e2e_run(lp_bench_report *rep)
{
    lp_err_t rc = LP_OK;
    rep->ne2e = 0;
    for (int i = 0; i < rep->opts.nthreads && rc == LP_OK; i++)
        if ((rc = e2e_threads(&rep->opts, rep->opts.threads[i], &rep->e2e[i])) == LP_OK)
            rep->ne2e++;
    lp_bench_mem m;
    lp_bench_mem_sample(&m);
    rep->e2e_peak_rss = m.hwm;
    return rc;
}

/* ---- soak -------------------------------------------------------------------- */

/* Least-squares slope of the samples (one per 10 s), in MiB per hour. */
static double rss_slope(const double *v, int n)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double x = i * 10.0 / 3600.0;
        sx += x;
        sy += v[i];
        sxx += x * x;
        sxy += x * v[i];
    }
    double d = n * sxx - sx * sx;
    return n > 1 && d != 0 ? (n * sxy - sx * sy) / d : 0;
}

/* The lowest and highest of n samples (0 and 0 when there are none). */
static void rss_range(const double *v, int n, double *lo, double *hi)
{
    *lo = *hi = n ? v[0] : 0;
    for (int i = 1; i < n; i++) {
        *lo = v[i] < *lo ? v[i] : *lo;
        *hi = v[i] > *hi ? v[i] : *hi;
    }
}

/*
 * Whether memory is flat is judged on the second half of the soak: the first
 * holds the warm-up (the group join, the dedupe table filling up to
 * dedupe.max_keys, the allocator's caches), which lasts longer at lower rates.
 */
static void soak_summary(const be_run *r, FILE *out)
{
    double lo, hi;
    rss_range(r->rss, r->nrss, &lo, &hi);
    lp_bench_latency lat;
    lp_bench_latency_from(r->lat, r->nlat, &lat);
    fprintf(out, "soak: %" PRIu64 " leads; RSS min %.1f MiB, max %.1f MiB, slope %+.2f MiB/h "
                 "over %d samples; latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
            r->n, lo, hi, rss_slope(r->rss, r->nrss), r->nrss, lat.p50 / 1000, lat.p99 / 1000,
            lat.p999 / 1000);
    int half = r->nrss / 2, n = r->nrss - half;
    if (n < 3)
        return;
    rss_range(r->rss + half, n, &lo, &hi);
    fprintf(out, "soak, second half: RSS min %.1f MiB, max %.1f MiB, slope %+.2f MiB/h over %d "
                 "samples\n",
            lo, hi, rss_slope(r->rss + half, n), n);
}

lp_err_t lp_bench_soak(lp_bench_report *rep, FILE *out)
{
    const lp_bench_opts *o = &rep->opts;
    be_run r = {.o = o, .mode = BE_LEADPIPE, .threads = o->threads[0], .rate = o->soak_rate,
                .status = out};
    r.n = (uint64_t)(o->soak_rate * o->soak_seconds);
    r.cap_rss = (int)(o->soak_seconds / 10) + 2;
    r.rss = calloc((size_t)r.cap_rss, sizeof(double));
    uint64_t cpu = 0;
    lp_err_t rc = r.rss && r.n ? run_open(&r, 0) : LP_E_USAGE;
    if (rc == LP_OK)
        rc = run_measure(&r, &cpu);
    if (rc == LP_OK)
        soak_summary(&r, out);
    run_close(&r);
    free(r.rss);
    return rc;
}
