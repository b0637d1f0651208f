/*
 * runtime.h - the Kafka streaming runtime behind `leadpipe run`.
 *
 * N worker threads each own one consumer in a shared consumer group and
 * run the compiled pipeline on the records of their partitions. All
 * workers share one idempotent producer for the outcome topics.
 *
 * Delivery is at-least-once. A partition's offset is committed only up to
 * its watermark: the lowest record whose outputs the broker has not yet
 * acknowledged. A crash therefore loses nothing; it can only redeliver the
 * records that were in flight.
 */
#ifndef LP_RUNTIME_H
#define LP_RUNTIME_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "pipeline.h"

typedef struct lp_runtime_opts {
    const lp_pipeline *pl;
    const char *brokers;       /* bootstrap.servers; NULL: the pipeline's kafka.brokers */
    const char *group;         /* NULL: kafka.group, else "leadpipe-<pipeline name>" */
    int threads;               /* worker threads, >= 1 */
    const char *const *xprops; /* -X name=value; "consumer." / "producer." prefixes target one */
    int nxprops;
    int64_t idle_exit_ms;      /* > 0: stop once every partition is drained for this long */
    volatile sig_atomic_t *stop; /* set asynchronously (signal handler) to stop */
    bool quiet;                /* no periodic status lines */
} lp_runtime_opts;

typedef struct lp_runtime_stats {
    uint64_t consumed;  /* input records taken from Kafka */
    uint64_t routed;    /* outcome records for the routed topic */
    uint64_t rejected;  /* outcome records for the rejected topic */
    uint64_t tasks;     /* nurture tasks */
    uint64_t delivered; /* output messages acknowledged by the broker */
    uint64_t retried;   /* output messages produced again after a failed delivery */
    uint64_t rebalances;
    double seconds;        /* the whole run, group join and drain included */
    double active_seconds; /* from the first record consumed to the last outcome produced */
} lp_runtime_stats;

/*
 * Runs until *o->stop is set (or until idle, with idle_exit_ms), then
 * drains in-flight work, commits and returns. Returns LP_OK, LP_E_CONFIG
 * for a bad librdkafka property (the message is printed), or LP_E_KAFKA.
 */
lp_err_t lp_runtime_run(const lp_runtime_opts *o, lp_runtime_stats *st);

#endif
