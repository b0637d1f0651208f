/*
 * park.h - records parked on slow I/O, and the queues that bring them back.
 *
 * A stage that needs the network (an enrichment miss, an LLM call) does not
 * block its worker. Its run() callback returns LP_STEP_PARK. The driver
 * (batch or the Kafka runtime) then detaches the record from the batch
 * arena with lp_park_detach(), so that it owns every byte it points to, and
 * hands it to the stage's submit() callback. The stage's service (its own
 * I/O thread) answers by the record's deadline at the latest. It stores its
 * answer in the parked record (park_result, park_status) and pushes the
 * record onto the worker's lp_park_queue. The worker drains that queue and
 * runs the record through the chain again. The chain resumes at the stage
 * that parked, whose run() now finds the answer and applies it.
 *
 * Ownership: while parked, a record belongs to the service; once pushed, it
 * belongs to the worker that owns the queue. Nothing else touches it. The
 * queue's mutex orders the handover.
 *
 * Invariant: a submitted record is pushed back exactly once, so nothing
 * parked is ever lost; the outcome may be degraded, never missing.
 */
#ifndef LP_PARK_H
#define LP_PARK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "record.h"

typedef struct lp_parked {
    lp_record rec;          /* the record; everything it points to lives in arena */
    lp_arena arena;         /* owned by the parked record */
    void *owner;            /* the driver's context (in-flight entry, sequence number) */
    int64_t deadline_ms;    /* wall-clock time by which the service must answer */
    struct lp_parked *next; /* queue link */
} lp_parked;

/*
 * Deep-copies r (its lead, raw bytes, messages, reasons and tasks) into a
 * new parked record. Strings owned by the pipeline (rule and owner names)
 * are shared, not copied. Returns NULL when memory is exhausted.
 */
lp_parked *lp_park_detach(const lp_record *r, void *owner, int64_t deadline_ms);

/* Frees a parked record and everything it owns. NULL is fine. */
void lp_parked_free(lp_parked *p);

/* A worker's queue of records whose slow I/O has finished. */
typedef struct lp_park_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    lp_parked *head, *tail;
    size_t count;
} lp_park_queue;

void lp_park_queue_init(lp_park_queue *q);
void lp_park_queue_destroy(lp_park_queue *q);

/*
 * Hands a finished record back to its worker.
 * @locality any thread (service threads)
 */
void lp_park_queue_push(lp_park_queue *q, lp_parked *p);

/*
 * Takes every finished record, oldest first, as a list linked by ->next.
 * Waits up to timeout_ms for one when the queue is empty (0: no wait).
 * @locality the worker that owns q
 */
lp_parked *lp_park_queue_take(lp_park_queue *q, int timeout_ms);

#endif
