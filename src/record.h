/*
 * record.h - one input record on its way through the pipeline, and its
 * outcome.
 *
 * A record is created by a reader (file or Kafka), filled in by the stages,
 * and consumed by the encoders. Every record ends with exactly one outcome:
 * routed (err == LP_OK, with a disposition) or rejected (err != LP_OK).
 *
 * Memory: everything a record points to lives in the arena of its batch, in
 * the input buffer, or in the compiled pipeline (rule, owner and sequence
 * names), which outlives every batch.
 */
#ifndef LP_RECORD_H
#define LP_RECORD_H

#include "err.h"
#include "lead.h"

/* Stages in chain order. Names: lp_stage_name(). */
typedef enum lp_stage_id {
    LP_STAGE_READ = 0, /* reading and mapping the input row */
    LP_STAGE_DECODE,   /* decoding Avro from Kafka */
    LP_STAGE_VALIDATE,
    LP_STAGE_DEDUPE,
    LP_STAGE_ENRICH,
    LP_STAGE_SCORE,
    LP_STAGE_QUALIFY,
    LP_STAGE_LLM,
    LP_STAGE_ROUTE,
    LP_STAGE_NURTURE,
    LP_STAGE_DONE,
    LP_STAGE_COUNT = LP_STAGE_DONE
} lp_stage_id;

typedef enum lp_disposition {
    LP_DISP_NONE = 0,
    LP_DISP_SALES,
    LP_DISP_NURTURE,
    LP_DISP_DISQUALIFIED,
    LP_DISP_DUPLICATE,
} lp_disposition;

typedef enum lp_qualification {
    LP_QUAL_NONE = 0,
    LP_QUAL_SQL,
    LP_QUAL_MQL,
    LP_QUAL_NURTURE,
    LP_QUAL_DISQUALIFIED,
} lp_qualification;

/* What happened to an optional slow stage (enrichment, LLM) for a lead. */
typedef enum lp_aux_status {
    LP_AUX_SKIPPED = 0, /* not configured, or not needed for this lead */
    LP_AUX_USED,        /* answered by a provider */
    LP_AUX_CACHED,      /* answered from the cache */
    LP_AUX_DEGRADED,    /* deadline passed or providers failed; rules stand */
} lp_aux_status;

typedef enum lp_dimension {
    LP_DIM_FIT = 0,
    LP_DIM_ENGAGEMENT = 1,
} lp_dimension;

/* A scoring rule that fired. */
typedef struct lp_reason {
    const char *rule;  /* rule name, owned by the pipeline */
    const char *group; /* cap group, owned by the pipeline; NULL if none */
    int32_t points;    /* points awarded (after engagement decay) */
    uint8_t dimension; /* lp_dimension */
    uint32_t rule_len;  /* strlen(rule), or 0 when not known (then measured) */
    uint32_t group_len; /* strlen(group), or 0 when not known or no group */
} lp_reason;

/* A nurture task created for a lead. */
typedef struct lp_task {
    const char *sequence;    /* sequence id, owned by the pipeline */
    const char *template_id; /* owned by the pipeline */
    uint16_t step;           /* 1-based step number */
    int64_t send_at_ms;      /* inside the sequence's send window */
    uint16_t sequence_len;   /* strlen(sequence), or 0 when not known (then measured) */
    uint16_t template_len;   /* strlen(template_id), or 0 when not known */
} lp_task;

/* Where a record came from: a file line or a topic partition offset. */
typedef struct lp_origin {
    const char *name;  /* file path or topic name */
    int32_t partition; /* -1 for files */
    int64_t offset;    /* 1-based line number for files, offset for Kafka */
} lp_origin;

typedef struct lp_record {
    lp_lead lead;
    lp_str raw;       /* the original bytes, untouched */
    lp_origin origin;

    /* rejection: err != LP_OK */
    lp_err_t err;
    lp_stage_id err_stage;
    const char *err_msg; /* names the field and value; arena or static */

    /* outcome */
    lp_disposition disposition;
    lp_qualification qualification;
    bool gray_zone;
    const char *owner;      /* owner, team or queue name; pipeline-owned */
    const char *owner_kind; /* "owner", "team" or "queue" */
    const char *route_rule; /* the routing rule that chose the owner */
    const char *qualify_rule; /* the disqualify rule that fired, if any */
    lp_str duplicate_of;    /* lead id of the first lead, for duplicates */
    lp_reason *reasons;
    uint16_t nreasons;
    lp_task *tasks;
    uint16_t ntasks;
    uint8_t enrich_status; /* lp_aux_status */
    uint8_t llm_status;    /* lp_aux_status */

    uint8_t next_stage;      /* lp_stage_id where processing resumes */
    int64_t processed_at_ms; /* the run's clock when the outcome was made */

    /* slow I/O (see park.h): set by a stage that parks, and by its service */
    int64_t park_deadline_ms; /* when the service must answer, at the latest */
    void *park_result;        /* the service's answer, in the parked record's arena */
    lp_err_t park_status;     /* LP_OK, or why there is no answer (the lead goes on degraded) */

    /* provenance: where each field's value came from (enrich sets it; 0 = input) */
    uint8_t field_src[LP_F_COUNT]; /* LP_SRC_INPUT, LP_SRC_CACHE, or LP_SRC_PROVIDER + index */
    const char *const *src_names;  /* provider names by index; pipeline-owned, NULL if none */

    /* the LLM stage's answer (stage_llm.c) */
    const char *llm_note;  /* why the LLM was skipped or failed; static text, NULL if neither */
    lp_str llm_first_line; /* nurture email's first line (parked arena); ptr NULL when none */
} lp_record;

/* Values of lp_record.field_src. */
#define LP_SRC_INPUT 0
#define LP_SRC_CACHE 1
#define LP_SRC_PROVIDER 2 /* + the provider's index in src_names */

/* Resets a record for reuse; keeps nothing. */
void lp_record_init(lp_record *r);

/* Marks a record rejected at a stage, with a message that names the field. */
void lp_record_reject(lp_record *r, lp_stage_id stage, lp_err_t err, const char *msg);

/* Sets qualification and disposition, and the derived fields rules read. */
void lp_record_set_outcome(lp_record *r, lp_qualification q, lp_disposition d);

const char *lp_stage_name(lp_stage_id s);
const char *lp_disposition_name(lp_disposition d);
const char *lp_qualification_name(lp_qualification q);
const char *lp_aux_status_name(lp_aux_status s);

#endif
