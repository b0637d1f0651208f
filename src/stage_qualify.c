/*
 * stage_qualify.c - from score to qualification and disposition.
 *
 *     any `disqualify` rule holds            -> disqualified
 *     total >= sql_score and sql_when holds  -> SQL      (disposition sales)
 *     total >= mql_score and mql_when holds  -> MQL      (disposition sales)
 *     otherwise                              -> nurture  (disposition nurture)
 *
 * A lead whose total lies within `gray_zone` points of either threshold is
 * flagged: the rules decided, but a second opinion (the LLM stage) may help.
 * Threads: the compiled state is read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "stage.h"

typedef struct qualify_rule {
    const char *name;
    lp_expr *when;
} qualify_rule;

typedef struct qualify_state {
    int64_t sql_score, mql_score, gray_zone;
    lp_expr *sql_when, *mql_when; /* NULL: no extra condition */
    qualify_rule *disqualify;
    size_t ndisqualify;
} qualify_state;

typedef struct qualify_section {
    int64_t sql_score, mql_score, gray_zone;
    struct fy_node *sql_when, *mql_when, *disqualify;
} qualify_section;

static const lp_conf_prop qualify_props[] = {
    {"sql_score", LP_CONF_INT, offsetof(qualify_section, sql_score), "75",
     "Lowest total score of a sales-qualified lead.", NULL, false},
    {"mql_score", LP_CONF_INT, offsetof(qualify_section, mql_score), "50",
     "Lowest total score of a marketing-qualified lead.", NULL, false},
    {"sql_when", LP_CONF_EXPR, offsetof(qualify_section, sql_when), NULL,
     "Extra condition for SQL (rule expression), e.g. `score.fit >= 40`.", NULL, false},
    {"mql_when", LP_CONF_EXPR, offsetof(qualify_section, mql_when), NULL,
     "Extra condition for MQL (rule expression).", NULL, false},
    {"gray_zone", LP_CONF_INT, offsetof(qualify_section, gray_zone), "5",
     "Leads within this many points of a threshold are flagged for a second opinion (0: off).",
     NULL, false},
    {"disqualify", LP_CONF_NODE, offsetof(qualify_section, disqualify), NULL,
     "Rules that disqualify a lead whatever its score: `- {name: N, when: EXPR}`.", NULL, false},
    {NULL},
};

typedef struct disq_section {
    char *name;
    struct fy_node *when;
} disq_section;

static const lp_conf_prop disq_props[] = {
    {"name", LP_CONF_STR, offsetof(disq_section, name), NULL, "Rule name, shown in outcomes.", NULL, true},
    {"when", LP_CONF_EXPR, offsetof(disq_section, when), NULL, "Condition (rule expression).", NULL, true},
    {NULL},
};

static void compile_disqualify(lp_stage_ctx *ctx, qualify_state *st, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(ctx->diag, n, "'disqualify' is a list of {name, when}");
        return;
    }
    st->disqualify = lp_arena_alloc(ctx->mem,
                                    (size_t)fy_node_sequence_item_count(n) * sizeof(qualify_rule));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        disq_section ds;
        if (lp_conf_apply(ctx->diag, ctx->mem, item, disq_props, &ds))
            continue;
        st->disqualify[st->ndisqualify++] = (qualify_rule){ds.name, lp_stage_expr(ctx, ds.when)};
    }
}

static void *qualify_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    qualify_state *st = lp_arena_alloc(ctx->mem, sizeof(*st));
    memset(st, 0, sizeof(*st));
    qualify_section qs;
    lp_conf_apply(ctx->diag, ctx->mem, section, qualify_props, &qs);
    st->sql_score = qs.sql_score;
    st->mql_score = qs.mql_score;
    st->gray_zone = qs.gray_zone;
    if (qs.sql_score < qs.mql_score)
        lp_diag_node(ctx->diag, lp_conf_get(section, "sql_score"),
                     "sql_score (%lld) is below mql_score (%lld)", (long long)qs.sql_score,
                     (long long)qs.mql_score);
    if (qs.gray_zone < 0)
        lp_diag_node(ctx->diag, lp_conf_get(section, "gray_zone"), "gray_zone cannot be negative");
    if (qs.sql_when)
        st->sql_when = lp_stage_expr(ctx, qs.sql_when);
    if (qs.mql_when)
        st->mql_when = lp_stage_expr(ctx, qs.mql_when);
    compile_disqualify(ctx, st, qs.disqualify);
    return st;
}

static bool holds(const lp_expr *e, const lp_lead *l, lp_worker *w)
{
    return !e || lp_expr_eval(e, l, w->scratch);
}


static lp_step qualify_run(const void *state, lp_worker *w, lp_record *r)
{
    const qualify_state *st = state;
    const lp_lead *l = &r->lead;
    for (size_t i = 0; i < st->ndisqualify; i++)
        if (lp_expr_eval(st->disqualify[i].when, l, w->scratch)) {
            r->qualify_rule = st->disqualify[i].name;
            lp_record_set_outcome(r, LP_QUAL_DISQUALIFIED, LP_DISP_DISQUALIFIED);
            return LP_STEP_NEXT;
        }
    int64_t total = l->v[LP_F_SCORE_TOTAL].i;
    if (total >= st->sql_score && holds(st->sql_when, l, w))
        lp_record_set_outcome(r, LP_QUAL_SQL, LP_DISP_SALES);
    else if (total >= st->mql_score && holds(st->mql_when, l, w))
        lp_record_set_outcome(r, LP_QUAL_MQL, LP_DISP_SALES);
    else
        lp_record_set_outcome(r, LP_QUAL_NURTURE, LP_DISP_NURTURE);
    r->gray_zone = st->gray_zone > 0 && (llabs(total - st->sql_score) <= st->gray_zone ||
                                         llabs(total - st->mql_score) <= st->gray_zone);
    return LP_STEP_NEXT;
}

static void qualify_free(void *state)
{
    (void)state;
}

static const lp_conf_section qualify_subs[] = {
    {"qualify.disqualify[]", "A rule that disqualifies a lead whatever its score.", disq_props},
};

const lp_stage_def lp_stage_qualify = {
    .id = LP_STAGE_QUALIFY,
    .section = "qualify",
    .doc = "Turns the score into a qualification (SQL, MQL, nurture, disqualified) and a "
           "disposition (sales, nurture, disqualified), and flags the gray zone near the "
           "thresholds. Rules later in the chain can use `qualification` and `disposition`.",
    .props = qualify_props,
    .subs = qualify_subs,
    .nsubs = sizeof(qualify_subs) / sizeof(qualify_subs[0]),
    .compile = qualify_compile,
    .run = qualify_run,
    .free = qualify_free,
    .keeps_strings = true, /* the chain keeps the rule memo across it */
};
