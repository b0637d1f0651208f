/*
 * pipeline.h - a compiled pipeline and the per-thread workers that run it.
 *
 * lp_pipeline_load() reads a pipeline file, compiles every rule (field names
 * to slots, literal lists and named sets to hash sets, regexes JIT-compiled)
 * and builds the chain of stages:
 *
 *     validate -> dedupe -> enrich -> score -> qualify -> llm -> route -> nurture
 *
 * lp_pipeline_process() then runs one record through the chain. A stage can
 * finish a record early (a duplicate) or park it on slow I/O (enrichment, LLM);
 * a parked record resumes at r->next_stage when its answer arrives.
 *
 * Threads: a loaded pipeline is shared by all workers. Its rules are
 * immutable; its few pieces of shared mutable state (the dedupe table, the
 * routing capacity counters) are internally synchronised. Each thread owns
 * one lp_worker.
 */
#ifndef LP_PIPELINE_H
#define LP_PIPELINE_H

#include <stdio.h>

#include "arena.h"
#include "park.h"
#include "err.h"
#include "record.h"

typedef struct lp_pipeline lp_pipeline;
typedef struct lp_worker lp_worker;

/* Where each outcome goes on Kafka. */
typedef struct lp_topics {
    char *input;
    char *routed;
    char *nurture;
    char *rejected;
} lp_topics;

/* How input files are read (the `input:` section). */
typedef struct lp_input_conf {
    int64_t max_field_bytes;
    int64_t max_row_bytes;
    struct lp_column_map *columns; /* user header mappings */
    size_t ncolumns;
} lp_input_conf;

/* A user header mapping: header (as written in the export) -> field, or -1 for custom. */
typedef struct lp_column_map {
    const char *header;
    int field;
} lp_column_map;

/*
 * Loads and compiles the pipeline at path. Every error is reported to errs
 * as `file:line:col: message`; loading continues past errors so that all of
 * them are reported. Returns LP_OK, LP_E_IO when the file cannot be read, or
 * LP_E_CONFIG when it has errors (*nerrors counts them).
 */
lp_err_t lp_pipeline_load(const char *path, FILE *errs, lp_pipeline **out, int *nerrors);

void lp_pipeline_free(lp_pipeline *pl);

const char *lp_pipeline_name(const lp_pipeline *pl);

/* The pipeline's version: a content hash of the compiled file (16 hex digits). */
const char *lp_pipeline_version(const lp_pipeline *pl);

const lp_topics *lp_pipeline_topics(const lp_pipeline *pl);
const lp_input_conf *lp_pipeline_input(const lp_pipeline *pl);

struct lp_kafka_conf;
/* The `kafka:` section (brokers, group, wire format, librdkafka properties). */
const struct lp_kafka_conf *lp_pipeline_kafka(const lp_pipeline *pl);

/* Number of compiled rule expressions, for summaries. */
size_t lp_pipeline_rules(const lp_pipeline *pl);

/*
 * Writes each stage's end-of-run summary (the LLM router's requests, tokens,
 * cost, cache hits and fallbacks) to f; stages with nothing to say are quiet.
 * Drivers call it once, after the last record.
 */
void lp_pipeline_report(const lp_pipeline *pl, FILE *f);

/* Writes the Markdown configuration reference generated from the property tables. */
void lp_pipeline_doc(FILE *f);

/* A worker: one thread's scratch space and batch arena. */
lp_worker *lp_worker_new(const lp_pipeline *pl);
void lp_worker_free(lp_worker *w);

/* The worker's batch arena: records and their strings live here until reset. */
lp_arena *lp_worker_arena(lp_worker *w);

/*
 * Runs a record through the chain, starting at r->next_stage. Returns LP_OK
 * when the record has its final outcome (routed or rejected; see r->err), or
 * LP_E_PARK when it waits on slow I/O.
 *
 * @locality any thread, with its own worker
 */
lp_err_t lp_pipeline_process(const lp_pipeline *pl, lp_worker *w, lp_record *r);

/*
 * Hands a record that lp_pipeline_process() parked (detached with
 * lp_park_detach) to the stage that parked it. Its service pushes it onto q
 * once answered, or by p->deadline_ms at the latest; the driver then calls
 * lp_pipeline_process() on p->rec again, which resumes where it stopped.
 *
 * @locality any thread, with its own queue
 */
void lp_pipeline_submit(const lp_pipeline *pl, lp_parked *p, lp_park_queue *q);

/*
 * True when stage s does something in this pipeline: every stage of the
 * chain does, except optional ones (enrich, llm) without their section.
 */
bool lp_pipeline_has_stage(const lp_pipeline *pl, lp_stage_id s);

/*
 * Runs one stage on a record, for benchmarks and tests. Returns false when
 * the chain has no such stage.
 * The record's outcome is whatever that stage alone made of it.
 */
bool lp_pipeline_run_stage(const lp_pipeline *pl, lp_worker *w, lp_record *r, lp_stage_id s);

#endif
