/*
 * stage.h - the interface every stage of the chain implements.
 *
 * A stage is one exported lp_stage_def: the name of its section in the
 * pipeline file, a property table for the simple keys (see conf.h), and
 * three callbacks. compile() turns the section into an immutable state
 * object when the pipeline loads; run() applies it to one record; free()
 * releases it. Stages with no section in the file still compile, with their
 * defaults.
 *
 * The chain (pipeline.c) calls the stages in lp_stage_id order. A stage
 * slot that has no definition yet (enrich, llm) is skipped, and the record's
 * status for it stays LP_AUX_SKIPPED. That is the seam where enrichment and
 * the LLM router plug in: they implement this interface and may return
 * LP_STEP_PARK.
 *
 * Rule memo: the chain resets the worker's lp_expr_scratch when it starts
 * or resumes a record and after every stage not marked keeps_strings, so
 * the rule stages (score, qualify, route, nurture) share what evaluation
 * learnt about the lead's strings. They must not reset it themselves.
 *
 * Parking (park.h): run() returns LP_STEP_PARK after setting
 * r->park_deadline_ms. The driver detaches the record and calls submit(),
 * which hands it to the stage's service; the service answers through the
 * queue, and run() is called again on the same record with r->park_result
 * or r->park_status set. run() must then apply the answer, clear both, and
 * return LP_STEP_NEXT: a stage parks a record at most once.
 */
#ifndef LP_STAGE_H
#define LP_STAGE_H

#include "conf.h"
#include "expr.h"
#include "park.h"
#include "pipeline.h"

typedef enum lp_step {
    LP_STEP_NEXT = 0, /* go on to the next stage */
    LP_STEP_DONE,     /* the outcome is final (rejected, or a duplicate) */
    LP_STEP_PARK,     /* waiting on slow I/O; resume at r->next_stage */
} lp_step;

/* What compile() gets: where to report errors and allocate, and how to build rules. */
typedef struct lp_stage_ctx {
    lp_diag *diag;
    lp_arena *mem;             /* pipeline-lifetime memory */
    const lp_expr_env *env;    /* resolves $sets */
    lp_expr **exprs;           /* every compiled expression, freed with the pipeline */
    size_t nexprs, cap_exprs;
    struct fy_node *root;      /* the whole file, for a stage that reads another's settings */
} lp_stage_ctx;

struct lp_worker {
    const lp_pipeline *pl;
    lp_expr_scratch *scratch;
    lp_arena arena;
};

typedef struct lp_stage_def {
    lp_stage_id id;
    const char *section; /* key in the pipeline file */
    const char *doc;     /* one paragraph for CONFIGURATION.md */
    const lp_conf_prop *props;
    const lp_conf_section *subs; /* documented nested structures (rules, steps, ...) */
    size_t nsubs;
    void *(*compile)(lp_stage_ctx *ctx, struct fy_node *section);
    lp_step (*run)(const void *state, lp_worker *w, lp_record *r);
    /* Stages that park: takes a detached record; answers through q. */
    void (*submit)(const void *state, lp_parked *p, lp_park_queue *q);
    void (*free)(void *state);
    /* Optional: the stage's end-of-run summary (lp_pipeline_report). */
    void (*report)(const void *state, FILE *f);
    /*
     * True when run() never writes into the bytes of a lead string, nor
     * gives them back to an arena: it changes a string field only by
     * pointing it at other, live bytes. The chain keeps the worker's rule
     * memo (lp_expr_scratch_reset) across such a stage; after any other
     * stage it is forgotten.
     */
    bool keeps_strings;
    /* True when the stage does nothing unless the pipeline has its section. */
    bool optional;
} lp_stage_def;

/*
 * Compiles the rule in scalar node n; reports errors at their exact column.
 * The expression is owned by the pipeline. Returns NULL on error.
 */
lp_expr *lp_stage_expr(lp_stage_ctx *ctx, struct fy_node *n);

/* Reads `name:` from a rule mapping; reports an error when absent. */
const char *lp_stage_rule_name(lp_stage_ctx *ctx, struct fy_node *rule);

extern const lp_stage_def lp_stage_validate;
extern const lp_stage_def lp_stage_dedupe;
extern const lp_stage_def lp_stage_enrich;
extern const lp_stage_def lp_stage_score;
extern const lp_stage_def lp_stage_qualify;
extern const lp_stage_def lp_stage_llm;
extern const lp_stage_def lp_stage_route;
extern const lp_stage_def lp_stage_nurture;

#endif
