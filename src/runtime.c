/*
 * runtime.c - the Kafka streaming runtime; see runtime.h.
 *
 * Design
 * ------
 * Threads:
 *   - N workers. Each owns one consumer (its own rd_kafka_t in the group),
 *     its partitions' in-flight windows, a pipeline worker (arena, regex
 *     scratch) and an encode buffer. Records of a partition are processed
 *     in offset order by the one worker that owns the partition.
 *   - One delivery thread polls the shared producer. Delivery reports
 *     decrement the pending-output count of the record they belong to, and
 *     failed deliveries are produced again (never skipped).
 *
 * The in-flight window of a partition is a FIFO of entries {offset,
 * pending}, appended by the worker in offset order. An entry's pending
 * count starts at 1 (a guard held while the worker produces the record's
 * outputs), gains one per output, and loses one per acknowledged delivery.
 * The worker retires entries from the head while their count is zero; the
 * offset after the last retired entry is the partition's watermark, and
 * only the watermark is ever committed. Entries live in fixed blocks that
 * never move, so a delivery report can hold a pointer to its entry.
 *
 * Backpressure: a partition whose window holds max_inflight entries is
 * paused, and resumed when it drains below half of that. The producer queue
 * is bounded too: a full queue makes the worker wait, not drop.
 *
 * Rebalance: on revoke, the worker waits (up to drain_timeout) for the
 * revoked partitions' windows to empty, commits their watermarks
 * synchronously, then gives them up. Whatever could not drain stays
 * uncommitted and is redelivered to the next owner: no loss.
 *
 * Shutdown: stop consuming, drain, commit, close the consumers (leaving
 * the group), then flush the producer.
 *
 * Memory: besides the pipeline's own state (the dedupe table), what the
 * runtime holds is bounded by its queues (RT_PRODUCER_QUEUE_*,
 * RT_CONSUMER_QUEUE_KB) and each worker's arena (RT_ARENA_RESET), and it
 * asks jemalloc to return freed pages within a second (runtime_tune_
 * allocator). Workers allocate their own state on their own threads and
 * sit on cache lines of their own, and the counters the delivery thread
 * bumps per message are kept off the lines the workers read per record.
 */
#include "runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "encode.h"
#include "kafka_conf.h"
#include "park.h"
#include "record.h"
#include "wire.h"

#define IF_BLOCK 4096 /* in-flight entries per block */
/* A worker's arena is reset once this much of it is used: less than its
 * first chunk (1 MiB, kept across resets), so that in a steady stream no
 * further chunk is ever allocated and freed again. A record's outputs are
 * copied into the producer queue, so nothing in the arena outlives it. */
#define RT_ARENA_RESET (512u << 10)

typedef struct rt_inflight {
    int64_t offset;
    atomic_int pending;
} rt_inflight;

typedef struct rt_block {
    struct rt_block *next;
    rt_inflight e[IF_BLOCK];
} rt_block;

/* A partition of the input topic, owned by one worker while assigned. */
typedef struct rt_part {
    int32_t partition;
    bool active;
    bool paused;
    bool eof;
    rt_block *head, *tail; /* oldest unretired entry is head->e[head_i] */
    uint32_t head_i, tail_i;
    uint64_t count;       /* entries in the window */
    int64_t watermark;    /* offset to commit: all before it are acknowledged; -1 none */
    int64_t committed;    /* last watermark committed */
    struct rt_part *next_retired; /* abandoned windows, kept until shutdown */
} rt_part;

typedef struct rt_runtime rt_runtime;

/* A worker sits on cache lines of its own: it writes its stats, windows and
 * flags per record, and a neighbour's reads must not share those lines. */
typedef struct rt_worker {
    _Alignas(64) rt_runtime *rt;
    int id;
    pthread_t thread;
    rd_kafka_t *consumer;
    lp_worker *pw;
    lp_buf buf;
    rt_part **parts; /* indexed by partition number */
    int32_t nparts;
    rt_part *retired;
    lp_park_queue parked_q; /* records back from slow I/O */
    bool rebalancing;       /* a commit was refused: partitions paused until reassigned */
    double rebalancing_since;
    size_t parked;          /* records submitted and not yet back */
    bool joined;      /* has received an assignment (possibly empty) */
    double last_commit;
    /* Written by the worker only, read by the supervisor: relaxed atomics,
     * updated with plain load+store (one writer), so no locked instructions. */
    atomic_bool idle; /* every active partition at EOF with an empty window */
    atomic_int err;   /* lp_err_t; LP_OK while healthy */
    _Atomic uint64_t consumed, routed, rejected, tasks, rebalances;
    _Atomic double first_record, last_record; /* monotonic seconds; 0 before the first */
} rt_worker;

#define STAT_GET(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STAT_SET(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)
#define STAT_INC(x) STAT_SET(x, STAT_GET(x) + 1)

/* A failed delivery waiting to be produced again by the delivery thread. */
typedef struct rt_retry {
    struct rt_retry *next;
    char *topic;
    void *key, *value;
    size_t key_len, value_len;
    rd_kafka_headers_t *hdrs;
    rt_inflight *entry;
} rt_retry;

struct rt_runtime {
    const lp_runtime_opts *o;
    const lp_kafka_conf *kc;
    lp_run_info info;
    const char *brokers, *group, *in_topic;
    lp_wire *wire; /* decodes input records: plain Avro or Confluent framing */
    rd_kafka_t *producer;
    rd_kafka_topic_t *t_routed, *t_nurture, *t_rejected;
    pthread_t dr_thread;
    atomic_bool dr_stop;
    /* Written by the delivery thread per message: kept off the lines above,
     * which every worker reads per record (producer, topics, info). */
    _Alignas(64) atomic_uint_fast64_t delivered, retried;
    atomic_uint_fast64_t failed;          /* failed delivery reports */
    atomic_uint_fast64_t failed_logged;   /* failures already reported */
    atomic_int_fast64_t last_fail_log;    /* second of the last report */
    _Alignas(64) pthread_mutex_t retry_lock;
    rt_retry *retries;
    rt_worker *workers;
    double start;
};

#define REBALANCE_PAUSE_S 10.0 /* longest pause after a commit refused for a rebalance */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static lp_err_t resume_parked(rt_worker *w, int timeout_ms);

/* ---- memory ------------------------------------------------------------- */

/* jemalloc's control call, resolved only when jemalloc is the process
 * allocator (the leadpipe binary; not sanitizer builds or unit tests). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/*
 * A stream churns memory: every output is copied into the producer queue
 * and freed by another thread once delivered, and the consumer's fetch
 * buffers come and go the same way. By default jemalloc keeps freed pages
 * for 10 s, and purges an arena only when that arena is used again, so
 * RSS runs tens of MiB above the working set (and pages of threads that
 * have ended stay until exit). The runtime asks for freed pages back after
 * RT_DIRTY_DECAY_MS, purged by jemalloc's background thread.
 */
#define RT_DIRTY_DECAY_MS 1000
#define RT_MALLCTL_ARENAS_ALL "4096" /* MALLCTL_ARENAS_ALL in jemalloc.h */

static void runtime_tune_allocator(void)
{
    if (!mallctl)
        return;
    bool on = true;
    ssize_t decay = RT_DIRTY_DECAY_MS;
    mallctl("background_thread", NULL, NULL, &on, sizeof(on));
    mallctl("arenas.dirty_decay_ms", NULL, NULL, &decay, sizeof(decay)); /* arenas to come */
    mallctl("arena." RT_MALLCTL_ARENAS_ALL ".dirty_decay_ms", NULL, NULL, &decay, sizeof(decay));
}

/* ---- configuration ------------------------------------------------------ */

/*
 * Queue bounds, the runtime's memory beyond its dedupe table: the producer
 * holds at most 100,000 outputs or 64 MiB of payload, and each worker's
 * consumer prefetches at most 16 MiB of input. A full queue only makes the
 * workers wait (backpressure), never drop. Halving them saved about 15 MiB
 * of peak RSS in bench e2e at 2M leads (216 -> 201 MiB) for the same rate,
 * but the broker-down-and-up fault test then hung once in CI. The link is
 * not proven, so the bounds stay where the fault tests have always passed
 * until it is. Users may change
 * them in the pipeline's kafka.producer and kafka.consumer maps, or with -X.
 */
#define RT_PRODUCER_QUEUE_MSGS "100000"
#define RT_PRODUCER_QUEUE_KB "65536"
#define RT_CONSUMER_QUEUE_KB "16384"

static bool conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return true;
    fprintf(stderr, "leadpipe run: kafka property %s=%s: %s\n", name, value, err);
    return false;
}

static bool conf_set_all(rd_kafka_conf_t *conf, const lp_kafka_prop *p, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= conf_set(conf, p[i].name, p[i].value);
    return ok;
}

/* Applies -X options: "consumer.x=v" and "producer.x=v" target one client. */
static bool conf_set_x(rd_kafka_conf_t *conf, const lp_runtime_opts *o, const char *kind)
{
    bool ok = true;
    size_t klen = strlen(kind);
    for (int i = 0; i < o->nxprops; i++) {
        const char *x = o->xprops[i];
        const char *eq = strchr(x, '=');
        if (!eq) {
            fprintf(stderr, "leadpipe run: -X %s: expected name=value\n", x);
            return false;
        }
        char name[256];
        size_t nlen = (size_t)(eq - x);
        if (nlen >= sizeof(name))
            return false;
        memcpy(name, x, nlen);
        name[nlen] = '\0';
        const char *target = name;
        if (!strncmp(name, "consumer.", 9) || !strncmp(name, "producer.", 9)) {
            if (strncmp(name, kind, klen) || name[klen] != '.')
                continue;
            target = name + klen + 1;
        }
        ok &= conf_set(conf, target, eq + 1);
    }
    return ok;
}

static rd_kafka_conf_t *conf_common(rt_runtime *rt, const char *kind)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", rt->brokers) &&
              conf_set(conf, "client.id", "leadpipe") &&
              conf_set_all(conf, rt->kc->client, rt->kc->nclient);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    (void)kind;
    return conf;
}

/* ---- delivery ----------------------------------------------------------- */

static void retry_push(rt_runtime *rt, const rd_kafka_message_t *m)
{
    rt_retry *r = calloc(1, sizeof(*r));
    if (!r)
        abort(); /* cannot keep the promise of no loss without memory */
    r->topic = strdup(rd_kafka_topic_name(m->rkt));
    r->key = m->key_len ? malloc(m->key_len) : NULL;
    r->value = m->len ? malloc(m->len) : NULL;
    if (!r->topic || (m->key_len && !r->key) || (m->len && !r->value))
        abort();
    if (m->key_len)
        memcpy(r->key, m->key, m->key_len);
    if (m->len)
        memcpy(r->value, m->payload, m->len);
    r->key_len = m->key_len;
    r->value_len = m->len;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
        r->hdrs = rd_kafka_headers_copy(h);
    r->entry = m->_private;
    pthread_mutex_lock(&rt->retry_lock);
    r->next = rt->retries;
    rt->retries = r;
    pthread_mutex_unlock(&rt->retry_lock);
}

/* Delivery report: acknowledge the output, or queue it to be produced again. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    rt_runtime *rt = opaque;
    if (m->err) {
        /* one line a second at most, however many fail */
        uint64_t failed = atomic_fetch_add(&rt->failed, 1) + 1;
        int64_t sec = (int64_t)now_s();
        if (atomic_exchange(&rt->last_fail_log, sec) != sec) {
            uint64_t before = atomic_exchange(&rt->failed_logged, failed);
            fprintf(stderr, "leadpipe run: %llu deliveries failed (last: %s to %s); producing "
                            "them again\n",
                    (unsigned long long)(failed - before), rd_kafka_err2str(m->err),
                    rd_kafka_topic_name(m->rkt));
        }
        retry_push(rt, m);
        return;
    }
    rt_inflight *e = m->_private;
    atomic_fetch_sub_explicit(&e->pending, 1, memory_order_release);
    atomic_fetch_add_explicit(&rt->delivered, 1, memory_order_relaxed);
}

/* Produces the queued retries; keeps those the queue cannot take yet. */
static void retry_flush(rt_runtime *rt)
{
    pthread_mutex_lock(&rt->retry_lock);
    rt_retry *list = rt->retries;
    rt->retries = NULL;
    pthread_mutex_unlock(&rt->retry_lock);
    while (list) {
        rt_retry *r = list;
        list = r->next;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rt->producer, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_KEY(r->key, r->key_len),
            RD_KAFKA_V_VALUE(r->value, r->value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_HEADERS(r->hdrs), RD_KAFKA_V_OPAQUE(r->entry), RD_KAFKA_V_END);
        if (err) {
            pthread_mutex_lock(&rt->retry_lock);
            r->next = rt->retries;
            rt->retries = r;
            pthread_mutex_unlock(&rt->retry_lock);
            continue;
        }
        atomic_fetch_add_explicit(&rt->retried, 1, memory_order_relaxed);
        free(r->key);
        free(r->topic);
        free(r);
    }
}

static void *delivery_main(void *arg)
{
    rt_runtime *rt = arg;
    while (!atomic_load(&rt->dr_stop)) {
        rd_kafka_poll(rt->producer, 50);
        retry_flush(rt);
    }
    return NULL;
}

static lp_err_t producer_start(rt_runtime *rt)
{
    rd_kafka_conf_t *conf = conf_common(rt, "producer");
    if (!conf)
        return LP_E_CONFIG;
    bool ok = conf_set(conf, "enable.idempotence", "true") &&
              conf_set(conf, "linger.ms", "5") &&
              conf_set(conf, "batch.num.messages", "10000") &&
              conf_set(conf, "compression.type", "lz4") &&
              conf_set(conf, "queue.buffering.max.messages", RT_PRODUCER_QUEUE_MSGS) &&
              conf_set(conf, "queue.buffering.max.kbytes", RT_PRODUCER_QUEUE_KB) &&
              conf_set_all(conf, rt->kc->producer, rt->kc->nproducer) &&
              conf_set_x(conf, rt->o, "producer");
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return LP_E_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, rt);
    char err[512];
    rt->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rt->producer) {
        fprintf(stderr, "leadpipe run: cannot create producer: %s\n", err);
        return LP_E_KAFKA;
    }
    const lp_topics *t = lp_pipeline_topics(rt->o->pl);
    rt->t_routed = rd_kafka_topic_new(rt->producer, t->routed, NULL);
    rt->t_nurture = rd_kafka_topic_new(rt->producer, t->nurture, NULL);
    rt->t_rejected = rd_kafka_topic_new(rt->producer, t->rejected, NULL);
    if (pthread_create(&rt->dr_thread, NULL, delivery_main, rt))
        return LP_E_INTERNAL;
    return LP_OK;
}

/* ---- in-flight windows -------------------------------------------------- */

static rt_inflight *part_append(rt_part *p, int64_t offset)
{
    if (!p->tail) {
        p->head = p->tail = calloc(1, sizeof(rt_block));
        if (!p->head)
            return NULL;
        p->head_i = p->tail_i = 0;
    }
    if (p->tail_i == IF_BLOCK) {
        rt_block *b = calloc(1, sizeof(rt_block));
        if (!b)
            return NULL;
        p->tail->next = b;
        p->tail = b;
        p->tail_i = 0;
    }
    rt_inflight *e = &p->tail->e[p->tail_i++];
    e->offset = offset;
    atomic_store_explicit(&e->pending, 1, memory_order_relaxed);
    p->count++;
    p->eof = false;
    return e;
}

/* Retires acknowledged entries from the head and advances the watermark. */
static void part_retire(rt_part *p)
{
    while (p->count) {
        rt_inflight *e = &p->head->e[p->head_i];
        if (atomic_load_explicit(&e->pending, memory_order_acquire) != 0)
            break;
        p->watermark = e->offset + 1;
        p->count--;
        if (++p->head_i < IF_BLOCK)
            continue;
        if (p->head == p->tail) {
            p->head_i = p->tail_i = 0;
        } else {
            rt_block *old = p->head;
            p->head = old->next;
            p->head_i = 0;
            free(old);
        }
    }
}

static void part_free(rt_part *p)
{
    rt_block *b = p ? p->head : NULL;
    while (b) {
        rt_block *next = b->next;
        free(b);
        b = next;
    }
    free(p);
}

static rt_part *worker_part(rt_worker *w, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if (partition >= w->nparts) {
        int32_t n = partition + 16;
        rt_part **parts = realloc(w->parts, (size_t)n * sizeof(*parts));
        if (!parts)
            return NULL;
        memset(parts + w->nparts, 0, (size_t)(n - w->nparts) * sizeof(*parts));
        w->parts = parts;
        w->nparts = n;
    }
    if (!w->parts[partition]) {
        rt_part *p = calloc(1, sizeof(*p));
        if (!p)
            return NULL;
        p->partition = partition;
        p->watermark = p->committed = -1;
        w->parts[partition] = p;
    }
    return w->parts[partition];
}

/* Pauses or resumes one partition of the input topic. */
static void part_pause(rt_worker *w, rt_part *p, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, w->rt->in_topic, p->partition);
    if (pause)
        rd_kafka_pause_partitions(w->consumer, l);
    else
        rd_kafka_resume_partitions(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- commits and rebalances -------------------------------------------- */

/* Commits the watermarks that moved; sync when a rebalance or exit needs it. */
static void worker_commit(rt_worker *w, bool sync)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (int32_t i = 0; i < w->nparts; i++) {
        rt_part *p = w->parts[i];
        if (!p || !p->active)
            continue;
        part_retire(p);
        /* async commits are assumed to succeed; a sync commit (revoke, exit)
         * sends every watermark, in case one of them did not */
        if (p->watermark > p->committed || (sync && p->watermark >= 0))
            rd_kafka_topic_partition_list_add(list, w->rt->in_topic, p->partition)->offset =
                p->watermark;
    }
    if (list->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(w->consumer, list, sync ? 0 : 1);
        /* a commit refused during a rebalance is not worth a warning: the
         * watermark stays, and the next interval or the revoke commits it */
        bool refused = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                       err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
        if (!err)
            for (int i = 0; i < list->cnt; i++)
                w->parts[list->elems[i].partition]->committed = list->elems[i].offset;
        else if (!refused && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            fprintf(stderr, "leadpipe run: worker %d: commit failed: %s\n", w->id,
                    rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
    w->last_commit = now_s();
}

/* Waits until the window of p is empty, or until the drain timeout. */
static bool part_drain(rt_worker *w, rt_part *p)
{
    double deadline = now_s() + (double)w->rt->kc->drain_timeout_ms / 1000.0;
    for (;;) {
        part_retire(p);
        if (p->count == 0)
            return true;
        if (now_s() > deadline)
            return false;
        /* deliveries arrive on the delivery thread; the consumer must not be
         * polled here (its queue is redirected, and this may run inside a
         * rebalance callback) */
        if (resume_parked(w, 1) != LP_OK)
            return false;
        if (!w->parked)
            sleep_ms(1);
    }
}

/* Gives up a revoked partition: drain, commit, and forget its window. */
static void worker_revoke(rt_worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rt_part *p = worker_part(w, parts->elems[i].partition);
        if (p && p->active && !part_drain(w, p))
            fprintf(stderr,
                    "leadpipe run: worker %d: partition %d: %llu records still in flight at "
                    "revoke; left uncommitted for the next owner\n",
                    w->id, p->partition, (unsigned long long)p->count);
    }
    worker_commit(w, true);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t n = parts->elems[i].partition;
        rt_part *p = n < w->nparts ? w->parts[n] : NULL;
        if (!p)
            continue;
        w->parts[n] = NULL;
        if (p->count) { /* deliveries may still arrive: keep the memory */
            p->next_retired = w->retired;
            w->retired = p;
        } else {
            part_free(p);
        }
    }
}

/*
 * A commit refused because the group is rebalancing means our partitions are
 * about to be revoked, and whatever we process until then would be redone by
 * their next owner. So stop taking records until the rebalance is over.
 * @locality the worker's thread (served by its consumer poll)
 */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    rt_worker *w = opaque;
    if (err != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || w->rebalancing)
        return;
    w->rebalancing = true;
    w->rebalancing_since = now_s();
    for (int32_t i = 0; i < w->nparts; i++) {
        rt_part *p = w->parts[i];
        if (p && p->active && !p->paused) {
            part_pause(w, p, true);
            p->paused = true;
        }
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    rt_worker *w = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    STAT_INC(w->rebalances);
    w->rebalancing = false; /* the paused partitions are revoked or resumed below */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rt_part *p = worker_part(w, parts->elems[i].partition);
            if (p)
                p->active = true;
        }
        w->joined = true;
        if (cooperative)
            rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        /* a partition paused before a revoke (backpressure, a refused commit)
         * may come back: its new window starts unpaused, and so must it */
        rd_kafka_resume_partitions(rk, parts);
        return;
    }
    worker_revoke(w, parts);
    if (!cooperative)
        w->joined = false; /* not idle until the group assigns again */
    if (cooperative)
        rd_kafka_incremental_unassign(rk, parts);
    else
        rd_kafka_assign(rk, NULL);
}

/* ---- processing --------------------------------------------------------- */

/* Where an input record came from: what its outputs' key and headers say. */
typedef struct rt_source {
    int32_t partition;
    int64_t offset;
    const char *key; /* the input message's key, for records without a lead id */
    size_t key_len;
    char part_txt[12], off_txt[24]; /* formatted once per record */
} rt_source;

static void source_init(rt_source *src, int32_t partition, int64_t offset, const void *key,
                        size_t key_len)
{
    src->partition = partition;
    src->offset = offset;
    src->key = key;
    src->key_len = key_len;
    snprintf(src->part_txt, sizeof(src->part_txt), "%d", (int)partition);
    snprintf(src->off_txt, sizeof(src->off_txt), "%lld", (long long)offset);
}

static rd_kafka_headers_t *source_headers(const rt_runtime *rt, const rt_source *src)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "leadpipe.source.topic", -1, rt->in_topic, -1);
    rd_kafka_header_add(h, "leadpipe.source.partition", -1, src->part_txt, -1);
    rd_kafka_header_add(h, "leadpipe.source.offset", -1, src->off_txt, -1);
    return h;
}

/* Produces one output, waiting while the producer queue is full. */
static lp_err_t produce(rt_worker *w, rd_kafka_topic_t *t, lp_str key, const lp_buf *value,
                        const rt_source *src, rt_inflight *e)
{
    atomic_fetch_add_explicit(&e->pending, 1, memory_order_relaxed);
    for (;;) {
        rd_kafka_headers_t *h = source_headers(w->rt, src);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            w->rt->producer, RD_KAFKA_V_RKT(t), RD_KAFKA_V_KEY(key.ptr, key.len),
            RD_KAFKA_V_VALUE(value->data, value->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(e), RD_KAFKA_V_END);
        if (!err)
            return LP_OK;
        rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            atomic_fetch_sub_explicit(&e->pending, 1, memory_order_relaxed);
            fprintf(stderr, "leadpipe run: cannot produce to %s: %s\n", rd_kafka_topic_name(t),
                    rd_kafka_err2str(err));
            return LP_E_KAFKA;
        }
        sleep_ms(1); /* the delivery thread frees queue space */
    }
}

/* Encodes and produces a record's outcome and nurture tasks. */
static lp_err_t emit(rt_worker *w, const lp_record *r, const rt_source *m, rt_inflight *e)
{
    rt_runtime *rt = w->rt;
    lp_str key = lp_lead_str(&r->lead, LP_F_LEAD_ID);
    lp_err_t rc;
    STAT_SET(w->last_record, now_s()); /* the active window ends at the last outcome */
    lp_buf_reset(&w->buf);
    if (r->err != LP_OK) {
        STAT_INC(w->rejected);
        if (key.len == 0 && m->key_len)
            key = (lp_str){m->key, (uint32_t)m->key_len};
        if ((rc = lp_encode_rejected_avro(r, &rt->info, &w->buf)))
            return rc;
        return produce(w, rt->t_rejected, key, &w->buf, m, e);
    }
    STAT_INC(w->routed);
    if ((rc = lp_encode_routed_avro(r, &rt->info, &w->buf)) ||
        (rc = produce(w, rt->t_routed, key, &w->buf, m, e)))
        return rc;
    for (uint16_t i = 0; i < r->ntasks; i++) {
        lp_buf_reset(&w->buf);
        if ((rc = lp_encode_task_avro(r, &r->tasks[i], &rt->info, &w->buf)) ||
            (rc = produce(w, rt->t_nurture, key, &w->buf, m, e)))
            return rc;
        STAT_INC(w->tasks);
    }
    return LP_OK;
}

/* The message's own timestamp, for leads that carry no received_at. */
static int64_t message_time(const rd_kafka_message_t *m, int64_t fallback)
{
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(m, &type);
    return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? fallback : ts;
}

/* What a parked record needs to be emitted later: its entry and source. */
typedef struct rt_park_ctx {
    rt_inflight *e;
    rt_source src;
    char key[]; /* the input key, copied */
} rt_park_ctx;

/* Detaches a record that waits on slow I/O and hands it to its stage. */
static lp_err_t park(rt_worker *w, const lp_record *rec, const rt_source *src, rt_inflight *e)
{
    rt_park_ctx *ctx = malloc(sizeof(*ctx) + src->key_len);
    lp_parked *p = ctx ? lp_park_detach(rec, ctx, rec->park_deadline_ms) : NULL;
    if (!p) {
        free(ctx);
        return LP_E_NOMEM;
    }
    ctx->e = e;
    ctx->src = *src;
    if (src->key_len)
        memcpy(ctx->key, src->key, src->key_len);
    ctx->src.key = ctx->key;
    w->parked++;
    lp_pipeline_submit(w->rt->o->pl, p, &w->parked_q);
    return LP_OK;
}

/* Runs records back from slow I/O through the rest of the chain and emits them. */
static lp_err_t resume_parked(rt_worker *w, int timeout_ms)
{
    if (!w->parked)
        return LP_OK;
    lp_parked *list = lp_park_queue_take(&w->parked_q, timeout_ms);
    lp_err_t rc = LP_OK;
    while (list) {
        lp_parked *p = list;
        list = p->next;
        rt_park_ctx *ctx = p->owner;
        w->parked--;
        if (lp_pipeline_process(w->rt->o->pl, w->pw, &p->rec) == LP_E_PARK) {
            p->deadline_ms = p->rec.park_deadline_ms; /* a later stage parks it too */
            w->parked++;
            lp_pipeline_submit(w->rt->o->pl, p, &w->parked_q);
            continue;
        }
        lp_err_t erc = emit(w, &p->rec, &ctx->src, ctx->e);
        atomic_fetch_sub_explicit(&ctx->e->pending, 1, memory_order_release);
        if (rc == LP_OK)
            rc = erc;
        free(ctx);
        lp_parked_free(p);
    }
    return rc;
}

/*
 * Decodes the message into rec. A registry outage (LP_E_HTTP) is no fault of
 * the record: the worker waits and tries again rather than rejecting it.
 * Returns false only when asked to stop meanwhile; the record then stays
 * unprocessed and uncommitted, and will be redelivered.
 */
static bool decode_message(rt_worker *w, const rd_kafka_message_t *m, lp_record *rec)
{
    lp_arena *a = lp_worker_arena(w->pw);
    char why[256];
    int backoff_ms = 100;
    for (;;) {
        lp_err_t rc = lp_wire_decode(w->rt->wire, m->payload, m->len, &rec->lead, a, why,
                                     sizeof(why));
        if (rc == LP_OK)
            break;
        if (rc != LP_E_HTTP) {
            /* half-decoded fields (a lead id read before the failure) must not
             * name this record: it is keyed by its message key instead */
            lp_lead_clear(&rec->lead);
            lp_record_reject(rec, LP_STAGE_DECODE, rc, lp_arena_strndup(a, why, strlen(why)));
            return true;
        }
        fprintf(stderr, "leadpipe run: worker %d: schema registry unavailable (%s); retrying\n",
                w->id, why);
        for (int waited = 0; waited < backoff_ms; waited += 10) {
            if (*w->rt->o->stop)
                return false;
            sleep_ms(10);
        }
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        lp_lead_clear(&rec->lead);
    }
    if (!lp_lead_has(&rec->lead, LP_F_RECEIVED_AT))
        lp_lead_set_long(&rec->lead, LP_F_RECEIVED_AT, message_time(m, rec->processed_at_ms));
    return true;
}

/* Pauses a partition whose window reached max_inflight. */
static void part_maybe_pause(rt_worker *w, rt_part *p)
{
    if (p->paused || p->count < (uint64_t)w->rt->kc->max_inflight)
        return;
    part_pause(w, p, true);
    p->paused = true;
}

static lp_err_t process_message(rt_worker *w, const rd_kafka_message_t *m)
{
    lp_record rec;
    lp_record_init(&rec);
    rec.raw = (lp_str){m->payload, (uint32_t)m->len};
    rec.origin = (lp_origin){w->rt->in_topic, m->partition, m->offset};
    rec.processed_at_ms = wall_ms();
    if (!decode_message(w, m, &rec))
        return LP_OK;
    rt_part *p = worker_part(w, m->partition);
    rt_inflight *e = p ? part_append(p, m->offset) : NULL;
    if (!e)
        return LP_E_NOMEM;
    rt_source src;
    source_init(&src, m->partition, m->offset, m->key, m->key_len);
    lp_err_t rc = LP_OK;
    if (lp_pipeline_process(w->rt->o->pl, w->pw, &rec) == LP_E_PARK) {
        rc = park(w, &rec, &src, e); /* the guard stays until it comes back */
    } else {
        rc = emit(w, &rec, &src, e);
        atomic_fetch_sub_explicit(&e->pending, 1, memory_order_release); /* drop the guard */
    }
    STAT_INC(w->consumed);
    if (STAT_GET(w->first_record) == 0)
        STAT_SET(w->first_record, now_s());
    lp_arena *a = lp_worker_arena(w->pw);
    if (a->used > RT_ARENA_RESET)
        lp_arena_reset(a);
    part_maybe_pause(w, p);
    return rc;
}

/* Resumes paused partitions that drained; notes whether the worker is idle. */
static void worker_housekeeping(rt_worker *w)
{
    if (w->rebalancing && now_s() - w->rebalancing_since > REBALANCE_PAUSE_S)
        w->rebalancing = false; /* no rebalance came after all: go on */
    bool idle = w->joined && w->parked == 0;
    for (int32_t i = 0; i < w->nparts; i++) {
        rt_part *p = w->parts[i];
        if (!p || !p->active)
            continue;
        part_retire(p);
        if (p->paused && !w->rebalancing &&
            p->count < (uint64_t)w->rt->kc->max_inflight / 2) {
            part_pause(w, p, false);
            p->paused = false;
        }
        if (!p->eof || p->count)
            idle = false;
    }
    STAT_SET(w->idle, idle);
    if (now_s() - w->last_commit >= (double)w->rt->kc->commit_interval_ms / 1000.0)
        worker_commit(w, false);
}

static void handle_event(rt_worker *w, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        rt_part *p = worker_part(w, m->partition);
        if (p)
            p->eof = true;
        w->last_commit = 0; /* caught up: commit at the next housekeeping */
        return;
    }
    fprintf(stderr, "leadpipe run: worker %d: %s\n", w->id, rd_kafka_message_errstr(m));
}

/* Drains every partition, commits, and leaves the group. */
static void worker_shutdown(rt_worker *w)
{
    for (int32_t i = 0; i < w->nparts; i++)
        if (w->parts[i] && w->parts[i]->active && !part_drain(w, w->parts[i]))
            fprintf(stderr, "leadpipe run: worker %d: partition %d: %llu records left "
                            "uncommitted at shutdown; they will be redelivered\n",
                    w->id, i, (unsigned long long)w->parts[i]->count);
    worker_commit(w, true);
    rd_kafka_consumer_close(w->consumer);
}

static void *worker_main(void *arg)
{
    rt_worker *w = arg;
    volatile sig_atomic_t *stop = w->rt->o->stop;
    double last_house = 0;
    /* Allocated here rather than by the starting thread, so that the
     * allocator serves the worker's arena and scratch from this thread's
     * own arena, away from the other workers' lines. */
    w->pw = lp_worker_new(w->rt->o->pl);
    if (!w->pw)
        STAT_SET(w->err, (int)LP_E_NOMEM);
    while (!*stop && STAT_GET(w->err) == LP_OK) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 20);
        if (m) {
            if (m->err)
                handle_event(w, m);
            else
                STAT_SET(w->err, (int)process_message(w, m));
            rd_kafka_message_destroy(m);
        }
        if (w->parked && STAT_GET(w->err) == LP_OK)
            STAT_SET(w->err, (int)resume_parked(w, 0));
        double t = now_s();
        if (!m || t - last_house > 0.01) {
            worker_housekeeping(w);
            last_house = t;
        }
    }
    worker_shutdown(w);
    return NULL;
}

static lp_err_t worker_start(rt_runtime *rt, rt_worker *w, int id)
{
    w->rt = rt;
    w->id = id;
    lp_buf_init(&w->buf);
    lp_park_queue_init(&w->parked_q);
    rd_kafka_conf_t *conf = conf_common(rt, "consumer");
    if (!conf)
        return LP_E_CONFIG;
    bool ok = conf_set(conf, "group.id", rt->group) &&
              conf_set(conf, "enable.auto.commit", "false") &&
              conf_set(conf, "enable.auto.offset.store", "false") &&
              conf_set(conf, "auto.offset.reset", "earliest") &&
              conf_set(conf, "enable.partition.eof", "true") &&
              conf_set(conf, "queued.max.messages.kbytes", RT_CONSUMER_QUEUE_KB) &&
              conf_set(conf, "fetch.wait.max.ms", "50") &&
              conf_set_all(conf, rt->kc->consumer, rt->kc->nconsumer) &&
              conf_set_x(conf, rt->o, "consumer");
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return LP_E_CONFIG;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_opaque(conf, w);
    char err[512];
    w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!w->consumer) {
        fprintf(stderr, "leadpipe run: cannot create consumer: %s\n", err);
        return LP_E_KAFKA;
    }
    rd_kafka_poll_set_consumer(w->consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, rt->in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        fprintf(stderr, "leadpipe run: cannot subscribe to %s: %s\n", rt->in_topic,
                rd_kafka_err2str(e));
        return LP_E_KAFKA;
    }
    w->last_commit = now_s();
    return pthread_create(&w->thread, NULL, worker_main, w) ? LP_E_INTERNAL : LP_OK;
}

static void worker_free(rt_worker *w)
{
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    for (int32_t i = 0; i < w->nparts; i++)
        part_free(w->parts[i]);
    free(w->parts);
    while (w->retired) {
        rt_part *next = w->retired->next_retired;
        part_free(w->retired);
        w->retired = next;
    }
    lp_buf_free(&w->buf);
    if (!w->parked) /* else a service may still answer into it: keep it */
        lp_park_queue_destroy(&w->parked_q);
    lp_worker_free(w->pw);
}

/* ---- the run ------------------------------------------------------------ */

static void collect(rt_runtime *rt, int n, lp_runtime_stats *st)
{
    memset(st, 0, sizeof(*st));
    double first = 0, last = 0;
    for (int i = 0; i < n; i++) {
        rt_worker *w = &rt->workers[i];
        double f = STAT_GET(w->first_record), l = STAT_GET(w->last_record);
        if (f && (first == 0 || f < first))
            first = f;
        if (l > last)
            last = l;
        st->consumed += STAT_GET(w->consumed);
        st->routed += STAT_GET(w->routed);
        st->rejected += STAT_GET(w->rejected);
        st->tasks += STAT_GET(w->tasks);
        st->rebalances += STAT_GET(w->rebalances);
    }
    st->delivered = atomic_load(&rt->delivered);
    st->retried = atomic_load(&rt->retried);
    st->seconds = now_s() - rt->start;
    st->active_seconds = last > first ? last - first : 0;
}

/* Watches the workers: status lines, idle exit. Returns when it is time to stop. */
static void supervise(rt_runtime *rt, int n)
{
    const lp_runtime_opts *o = rt->o;
    double idle_since = 0, last_status = now_s();
    while (!*o->stop) {
        sleep_ms(50);
        bool all_idle = true;
        for (int i = 0; i < n; i++) {
            all_idle &= STAT_GET(rt->workers[i].idle);
            if (STAT_GET(rt->workers[i].err) != LP_OK)
                *o->stop = 1;
        }
        double t = now_s();
        idle_since = all_idle ? (idle_since ? idle_since : t) : 0;
        if (o->idle_exit_ms > 0 && idle_since && (t - idle_since) * 1000 >= o->idle_exit_ms)
            *o->stop = 1;
        if (!o->quiet && t - last_status >= 10) {
            lp_runtime_stats st;
            collect(rt, n, &st);
            fprintf(stderr, "leadpipe run: %llu consumed, %llu routed, %llu rejected, %.0f/s\n",
                    (unsigned long long)st.consumed, (unsigned long long)st.routed,
                    (unsigned long long)st.rejected,
                    st.seconds > 0 ? (double)st.consumed / st.seconds : 0.0);
            last_status = t;
        }
    }
}

lp_err_t lp_runtime_run(const lp_runtime_opts *o, lp_runtime_stats *st)
{
    rt_runtime rt = {.o = o, .kc = lp_pipeline_kafka(o->pl)};
    char group[256];
    rt.info = (lp_run_info){lp_pipeline_name(o->pl), lp_pipeline_version(o->pl)};
    rt.brokers = o->brokers ? o->brokers : rt.kc->brokers;
    snprintf(group, sizeof(group), "leadpipe-%s", lp_pipeline_name(o->pl));
    rt.group = o->group ? o->group : rt.kc->group ? rt.kc->group : group;
    rt.in_topic = lp_pipeline_topics(o->pl)->input;
    rt.start = now_s();
    runtime_tune_allocator();
    pthread_mutex_init(&rt.retry_lock, NULL);
    rt.workers = aligned_alloc(_Alignof(rt_worker), (size_t)o->threads * sizeof(rt_worker));
    if (!rt.workers)
        return LP_E_NOMEM;
    memset(rt.workers, 0, (size_t)o->threads * sizeof(rt_worker));
    char err[512];
    lp_err_t rc = lp_wire_new((lp_wire_format)rt.kc->wire_format, rt.kc->schema_registry, NULL,
                              NULL, &rt.wire, err, sizeof(err));
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe run: %s\n", err);
    else
        rc = producer_start(&rt);
    int started = 0;
    while (rc == LP_OK && started < o->threads) {
        rc = worker_start(&rt, &rt.workers[started], started);
        if (rt.workers[started].consumer && rc == LP_OK)
            started++;
    }
    if (rc == LP_OK)
        supervise(&rt, started);
    *o->stop = 1;
    for (int i = 0; i < started; i++) {
        pthread_join(rt.workers[i].thread, NULL);
        if (STAT_GET(rt.workers[i].err) != LP_OK && rc == LP_OK)
            rc = (lp_err_t)STAT_GET(rt.workers[i].err);
    }
    if (rt.producer) {
        rd_kafka_flush(rt.producer, (int)rt.kc->drain_timeout_ms);
        atomic_store(&rt.dr_stop, true);
        pthread_join(rt.dr_thread, NULL);
    }
    collect(&rt, started, st);
    for (int i = 0; i <= started && i < o->threads; i++)
        worker_free(&rt.workers[i]);
    if (rt.producer) {
        rd_kafka_topic_destroy(rt.t_routed);
        rd_kafka_topic_destroy(rt.t_nurture);
        rd_kafka_topic_destroy(rt.t_rejected);
        rd_kafka_destroy(rt.producer);
    }
    free(rt.workers);
    lp_wire_free(rt.wire);
    pthread_mutex_destroy(&rt.retry_lock);
    return rc;
}
